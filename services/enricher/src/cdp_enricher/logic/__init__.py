"""Pure enrichments, one module each: no I/O, no faust, no clock reads."""
