"""A backend worker's service in its own process, driven over stdin/stdout by test_relay_crash.py.

    python -m tests.multiworker.worker_process session   -> prints CODE=<code> (a session with Ann in it)
    python -m tests.multiworker.worker_process move CODE PID SECRET N -> prints READY, waits for a line
                        on stdin, appends N moves, prints APPENDED, then idles until killed
    python -m tests.multiworker.worker_process recover   -> starts (the relay recovers),
                                                            prints PENDING=n LEFT=m

The bus comes from the environment (ABLY_*), the log from DATABASE_URL, as in the app.
"""

from __future__ import annotations

import asyncio
import sys

from cardsort_app.bootstrap import build
from cardsort_app.domain import rules
from cardsort_app.service.sessions import Identity


async def main(args: list[str]) -> None:
    rt = build()
    pending = len(await rt.store.unpublished())
    await rt.start()  # connects the bus; the relay publishes whatever the log holds as unpublished
    if args[0] == "session":
        created = await rt.service.create_session("crash", "values-mini")
        ann = await rt.service.join(created.code, "Ann")
        await rt.relay.flush()
        print(f"CODE={created.code} PID={ann.participant_id} SECRET={ann.secret}", flush=True)
    elif args[0] == "move":
        code, pid, secret, n = args[1], args[2], args[3], int(args[4])
        who = Identity(pid, secret)

        def sort_one(state, participant_id):
            card = state.participant(participant_id).pile("unsorted")[0]
            return rules.move_card(state, participant_id, card, "important")

        print("READY", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # "go"
        for _ in range(n):
            await rt.service.command(code, who, sort_one)
        print("APPENDED", flush=True)
        await asyncio.sleep(3600)  # the test kills this process before the relay can publish
    elif args[0] == "recover":
        print(f"PENDING={pending} LEFT={len(await rt.store.unpublished())}", flush=True)
    await rt.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
