"""The model assets: fine_tuned_model, then preference_pairs and dpo_model (on request),
model_evaluation and registered_model."""
