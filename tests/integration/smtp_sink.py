"""A real SMTP server on loopback for the mail tests (aiosmtpd).

Usage: python3 smtp_sink.py OUT_DIR [FAIL_FIRST]

Listens on 127.0.0.1 on a free port and prints that port on its first
line. Each message it accepts is written to OUT_DIR as NNNNNN.json with
its envelope, headers, subject and decoded text body. With FAIL_FIRST=N,
the first N messages are refused with a temporary error (451), so tests can
see the host retry. Stops when its standard input closes (the test ended).
"""

import asyncio
import email
import email.policy
import json
import os
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, out, fail_first):
        self.out = out
        self.fail_first = fail_first
        self.seen = 0
        self.kept = 0

    async def handle_DATA(self, server, session, envelope):
        self.seen += 1
        if self.seen <= self.fail_first:
            return "451 4.3.0 try again later"
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        part = msg.get_body(preferencelist=("plain",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg["subject"]),
            "headers": {k: str(v) for k, v in msg.items()},
            "body": part.get_content() if part is not None else "",
        }
        self.kept += 1
        final = os.path.join(self.out, f"{self.kept:06d}.json")
        with open(final + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.replace(final + ".tmp", final)
        return "250 2.0.0 OK"


async def main():
    out = sys.argv[1]
    fail_first = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    sink = Sink(out, fail_first)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(sink), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    # Serve until the test closes our standard input.
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


asyncio.run(main())
