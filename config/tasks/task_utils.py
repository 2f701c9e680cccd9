"""Python hooks named by climb's task YAMLs (`!function task_utils.NAME`).

They are lm-eval's own functions for the same benchmarks, so climb's tasks preprocess and score
exactly as lm-eval's built-in definitions do.
"""

import functools

from lm_eval.tasks.hellaswag.utils import process_docs as _hellaswag_process_docs
from lm_eval.tasks.truthfulqa.utils import process_results_mc2 as truthfulqa_process_results_mc2

__all__ = ["hellaswag_process_docs", "truthfulqa_process_results_mc2"]


@functools.lru_cache(maxsize=4)
def hellaswag_process_docs(dataset):
    """lm-eval's HellaSwag preprocessing, done once per dataset object.

    lm-eval preprocesses a split on every access; with the validation split as the few-shot
    pool (the mirror has no train split) that is five passes over 10,042 documents per run.
    """
    return _hellaswag_process_docs(dataset)
