# I/O-heavy: write 20 MiB to one file in the work directory and read it back, then 1000 small files of 1 KiB.
import os

chunk = bytes(range(256)) * 256  # 64 KiB
with open("big.bin", "wb") as f:
    for _ in range(320):  # 20 MiB
        f.write(chunk)
read = 0
with open("big.bin", "rb") as f:
    while block := f.read(1 << 20):
        read += len(block)
os.remove("big.bin")
for i in range(1000):
    with open(f"small{i}.txt", "w") as f:
        f.write("x" * 1024)
small = 0
for i in range(1000):
    with open(f"small{i}.txt") as f:
        small += len(f.read())
    os.remove(f"small{i}.txt")
print(read, small)
