"""KILT task files: reading, validation, writing, the task registry and gold passages."""
