// Placeholder until the hub lands.
