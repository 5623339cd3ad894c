"""vlm4d_tasks.lmms.tasks"""
