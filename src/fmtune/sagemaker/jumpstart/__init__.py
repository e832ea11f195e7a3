"""`sagemaker.jumpstart`."""
