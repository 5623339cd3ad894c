"""The lmms-eval side: the task YAMLs with their prompt templates (`tasks/`), the thin glue the
YAMLs call (`task`), the metric's aggregation hooks (`metric`), where the tasks get their data
(`data`), the protocols (`protocol`) and the weight-free baseline models (`models/`)."""
