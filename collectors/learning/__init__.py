"""Learning: behaviour-cloning training, the policy file format, expert relabelling (DAgger) and the flywheel loop."""
