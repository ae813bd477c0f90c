"""Building blocks every part uses, free of torch: configs, validation, seeding, atomic files,
the catalog, the item-text encoders (the language model is loaded on first use) and the
ranking rules."""
