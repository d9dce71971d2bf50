"""Every definition of the code location, one module per pipeline stage, found by
`dg.load_from_defs_folder` (see ../definitions.py): data/ (workbook to train split),
model/ (fine-tuning, evaluation, registry), automation (jobs, schedule, sensor) and
resources (the resources and the executor)."""
