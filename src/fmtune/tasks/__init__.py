"""What fmtune can fine-tune: the task registry (fmtune.tasks.registry) with the built-in tasks registered."""

from fmtune.tasks import text, text_to_image
from fmtune.tasks.registry import Task, all_tasks, find_task, get_task, register, task_for_config

__all__ = ["Task", "all_tasks", "find_task", "get_task", "register", "task_for_config", "text", "text_to_image"]
