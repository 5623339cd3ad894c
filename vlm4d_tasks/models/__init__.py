"""vlm4d_tasks.models"""
