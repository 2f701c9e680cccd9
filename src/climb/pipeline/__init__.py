"""The pipeline: the run context, one function per stage, the promote stage, the run summary."""
