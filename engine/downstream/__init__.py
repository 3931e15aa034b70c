"""The models a factory runs, trained on a pretrained backbone: good-only anomaly detection
(PatchCore), few-label classification (linear probe, supervised, FixMatch), their model
directory, predictions and heat maps."""
