"""Drives a command on a real pty for gateway/tests/edge.rs: starts it at
30 rows x 100 columns, runs `stty size` on the remote shell, resizes the pty
to 40x120 (the kernel sends SIGWINCH to ssh, which sends window-change),
runs `stty size` until the new size shows (at most 20 tries, a hang guard),
exits the shell and prints everything the pty showed.

Usage: python3 pty_resize.py COMMAND ARGS...
"""
import fcntl
import os
import pty
import select
import struct
import sys
import termios
import time


def winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


pid, fd = pty.fork()
if pid == 0:
    winsize(0, 30, 100)
    os.execvp(sys.argv[1], sys.argv[1:])

seen = b""


def read_until(needle, limit=30.0):
    global seen
    end = time.monotonic() + limit
    while needle not in seen and time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return needle in seen


# $((N+1)) keeps the typed command (echoed by the remote pty) from matching.
os.write(fd, b"stty size; echo END$((0+1))\n")
read_until(b"END1")
winsize(fd, 40, 120)
for i in range(2, 22):
    os.write(fd, b"stty size; echo END$((%d+1))\n" % (i - 1))
    read_until(b"END%d" % i, 10.0)
    if b"40 120" in seen:
        break
    time.sleep(0.2)
os.write(fd, b"exit\n")
read_until(b"\x00never", 10.0)
try:
    os.waitpid(pid, 0)
except ChildProcessError:
    pass
sys.stdout.write(seen.decode("utf-8", "replace"))
