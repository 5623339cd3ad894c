"""The benchmark's data: records and their schema, the official release's rules and pinned
hashes, motion categories, annotation loading and validation, the dataset repository folder
and its card, the hub, and where a record's video is."""
