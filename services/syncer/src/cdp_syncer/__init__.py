"""The syncer: qualified leads to marketing automation."""
