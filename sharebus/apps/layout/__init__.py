"""The subscriber-topic layout: moving a deployment of the per-resource layout to the current one."""
