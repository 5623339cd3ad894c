"""The lmms-eval side: the task YAMLs with their prompt templates (`tasks/`), the thin glue the
YAMLs call (`task`), the metric's aggregation hooks (`metric`), where the tasks get their data
(`data`), the run that aggregation writes its files for (`run`), the protocols (`protocol`), the
hook that registers the tasks with lmms-eval (`plugin`), every dependency on lmms-eval's
internals with the version it was written against (`compat`) and the weight-free baseline models
(`models/`)."""
