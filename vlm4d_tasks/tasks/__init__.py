"""vlm4d_tasks.tasks"""
