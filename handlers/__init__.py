"""The conversation: framework-free steps from neutral events to neutral replies."""
