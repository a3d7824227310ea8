"""The definitions marketers and operators write and the processors apply: the condition
language, segments, scoring and the lead policy, campaign-to-profile rules, tracking
plans, and the Postgres stores for them. The public face the console and the CLI use;
the enricher and segmenter read the same modules."""
