# CPU-heavy: a pure-Python loop, about 0.2 s (5e6 additions) on one core.
total = 0
for i in range(5_000_000):
    total += i
print(total)
