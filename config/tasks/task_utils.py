"""Python hooks named by climb's task YAMLs (`!function task_utils.NAME`).

They are lm-eval's own functions for the same benchmarks, re-exported, so climb's tasks
preprocess and score exactly as lm-eval's built-in definitions do.
"""

from lm_eval.tasks.hellaswag.utils import process_docs as hellaswag_process_docs
from lm_eval.tasks.truthfulqa.utils import process_results_mc2 as truthfulqa_process_results_mc2

__all__ = ["hellaswag_process_docs", "truthfulqa_process_results_mc2"]
