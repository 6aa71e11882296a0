// Development only: placeholder until the benchmark lands.
print("{}")
