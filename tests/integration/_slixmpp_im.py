"""RFC 6121 interop driver for slixmpp (Debian's python3-slixmpp), run by
slixmpp_test.ts as `/usr/bin/python3 _slixmpp_im.py PORT CA_FILE`.

Two slixmpp clients, alice and bob, log in over STARTTLS (verifying the
certificate against CA_FILE), add each other to their rosters through a
subscription handshake, see each other's presence, and bob gets the messages
alice sent while he was offline. Each step prints one line `STEP <name>
<json>` on stdout; any failure raises, prints `FAIL ...` and exits 1.
"""

import asyncio
import json
import sys

import slixmpp

STEP_TIMEOUT = 10


def step(name, value):
    print("STEP", name, json.dumps(value), flush=True)


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, ca_file):
        super().__init__(jid, password)
        self.ca_certs = ca_file
        self.register_plugin("xep_0199")  # ping
        self.register_plugin("xep_0203")  # delayed delivery
        # The test answers subscription requests itself.
        self.roster.auto_authorize = None
        self.roster.auto_subscribe = False
        self.started = asyncio.Event()
        self.events = asyncio.Queue()
        self.messages = []
        self.add_event_handler("session_start", self._session_start)
        self.add_event_handler("presence_subscribe", self._record("subscribe"))
        self.add_event_handler("presence_subscribed", self._record("subscribed"))
        self.add_event_handler("presence_available", self._record("available"))
        self.add_event_handler("presence_unavailable", self._record("unavailable"))
        self.add_event_handler("message", self._message)

    async def _session_start(self, _event):
        await self.get_roster()
        self.send_presence()
        self.started.set()

    def _record(self, kind):
        def handler(presence):
            self.events.put_nowait((kind, str(presence["from"])))

        return handler

    def _message(self, message):
        self.messages.append(
            {
                "from": str(message["from"]),
                "body": message["body"],
                "delay_from": str(message["delay"]["from"]),
                "has_stamp": message["delay"]["stamp"] is not None,
            }
        )

    async def start(self, port):
        self.connect(("127.0.0.1", port))
        await asyncio.wait_for(self.started.wait(), STEP_TIMEOUT)

    async def expect(self, kind, sender):
        """Waits for a presence event of `kind` from `sender` (others are skipped)."""

        async def wait():
            while True:
                got = await self.events.get()
                if got == (kind, sender):
                    return

        await asyncio.wait_for(wait(), STEP_TIMEOUT)

    def item(self, jid):
        entry = self.client_roster[jid]
        return {
            "subscription": entry["subscription"],
            "pending_out": bool(entry["pending_out"]),
            "name": entry["name"],
        }

    async def stop(self):
        self.disconnect()
        await asyncio.wait_for(self.disconnected, STEP_TIMEOUT)


async def main(port, ca_file):
    alice = Client("alice@localhost/laptop", "alice-secret", ca_file)
    bob = Client("bob@localhost/phone", "bob-secret", ca_file)
    await alice.start(port)
    await bob.start(port)

    # Roster add (RFC 6121 §2.3): the result comes with a push to this resource.
    await alice.update_roster("bob@localhost", name="Bob", groups=["Friends"])
    step("roster-add", alice.item("bob@localhost"))

    # The subscription handshake (RFC 6121 §3.1).
    alice.send_presence_subscription(pto="bob@localhost")
    await bob.expect("subscribe", "alice@localhost")
    bob.send_presence(pto="alice@localhost", ptype="subscribed")
    await alice.expect("subscribed", "bob@localhost")
    await alice.expect("available", "bob@localhost/phone")
    await asyncio.sleep(0.2)  # let the last roster pushes land
    step("alice-roster", alice.item("bob@localhost"))
    step("bob-roster", bob.item("alice@localhost"))

    # Presence follows the subscription: bob going offline is seen.
    await bob.stop()
    await alice.expect("unavailable", "bob@localhost/phone")
    step("bob-offline", True)

    # Offline messages (XEP-0160): stored, acknowledged by a ping round trip.
    for body in ("first", "second"):
        alice.send_message(mto="bob@localhost", mbody=body, mtype="chat")
    await alice["xep_0199"].ping("localhost", timeout=STEP_TIMEOUT)
    back = Client("bob@localhost/phone", "bob-secret", ca_file)
    await back.start(port)
    for _ in range(100):
        if len(back.messages) >= 2:
            break
        await asyncio.sleep(0.05)
    step("offline", back.messages)
    # The roster survived too, and alice's presence arrives as the probe's answer.
    step("bob-roster-again", back.item("alice@localhost"))
    await back.stop()
    await alice.stop()


if __name__ == "__main__":
    try:
        asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
    except BaseException as error:  # report anything, including timeouts
        print("FAIL", type(error).__name__, error, flush=True)
        sys.exit(1)
