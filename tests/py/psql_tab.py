"""Presses Tab in an interactive psql, as an analyst does: psql runs in a
pseudo-terminal (so readline is on and completion queries go to the
server), each line of input is typed with Tab presses where the analyst
would press them, and what psql printed is returned. Prints one JSON
object: for each input, the terminal text psql wrote back.

    psql_tab.py PORT USER PASSWORD INPUT...

An INPUT's "\t" is a Tab press; the line is cancelled (Ctrl-C) after it
has been completed, so nothing runs.
"""

import json
import os
import pty
import select
import sys
import time


def read_for(fd, seconds, done=lambda text: False):
    """What psql writes for `seconds`, or until `done(text so far)`."""
    out = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end and not done(out.decode("utf-8", "replace")):
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out.decode("utf-8", "replace")


def main():
    port, user, password = sys.argv[1:4]
    inputs = sys.argv[4:]
    pid, fd = pty.fork()
    if pid == 0:
        env = dict(os.environ, PGPASSWORD=password, PGCONNECT_TIMEOUT="10", TERM="dumb")
        env.pop("PGOPTIONS", None)
        os.execvpe("psql", ["psql", "-X", "-h", "127.0.0.1", "-p", port, "-U", user, "-d", "lagoa"], env)
    answers = []
    # The banner and the prompt (slow on a loaded machine: wait for it).
    read_for(fd, 20, lambda text: "=>" in text or "=#" in text)
    for text in inputs:
        for part in text.split("\t")[:-1]:
            os.write(fd, part.encode() + b"\t\t")
            time.sleep(0.3)
        os.write(fd, text.split("\t")[-1].encode())
        typed = text.replace("\t", "")
        # Completed: psql wrote back more than the echo of what was typed
        # (a completion comes from a catalog query, slow under load); an
        # input with nothing to complete waits the whole time.
        completed = lambda out: typed in out and any(c.isalnum() for c in out.split(typed, 1)[1])
        answers.append(read_for(fd, 10, completed) + read_for(fd, 0.3))
        os.write(fd, b"\x03")  # Ctrl-C: drop the line
        read_for(fd, 0.5)
    os.write(fd, b"\\q\n")
    read_for(fd, 1)
    os.waitpid(pid, 0)
    print(json.dumps(answers))


if __name__ == "__main__":
    main()
