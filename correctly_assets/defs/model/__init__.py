"""The model assets: fine_tuned_model, model_evaluation and registered_model."""
