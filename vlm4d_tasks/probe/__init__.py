"""vlm4d_tasks.probe"""
