"""Pure, framework-light building blocks: configs, seeding, catalog, encoders, scoring, metrics."""
