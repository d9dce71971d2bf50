"""The data assets: raw_sheet and yaml_spec, then per theme and date prompt_examples,
generated_texts and train_split."""
