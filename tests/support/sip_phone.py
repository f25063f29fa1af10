"""A real SIP phone for tests: a second Asterisk on loopback that registers to
a seat of the PBX under test with the seat's generated credentials, answers
when it rings, and reports (AMI UserEvent `PhoneRang`) the caller ID and the
P-Asserted-Identity it received — what a desk phone would show.

It also has a desk phone's own buttons, as SIP puts them on the wire:

* `blind_transfer(number)`: the Transfer button — a REFER on the call, its
  Refer-To `sip:<number>@<pbx>` (chan_pjsip sends a REFER when an answered
  channel runs the `Transfer` application);
* `consult(number)` then `attended_transfer(...)`: a second call from the seat
  (INVITE as the seat, authenticated), then a REFER on the first call whose
  Refer-To carries `?Replaces=<the second call's dialog>` (RFC 3891), as a
  phone's "complete transfer" does;
* `conference(...)`: the Conference/Merge button of a phone that mixes the
  three parties itself (most desk phones and softphones): the two calls
  joined on the phone, nothing new on the wire;
* `set_answering(False)`: the phone rings without answering.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ami_bridge.manager import AmiManager
from app.runtime.asterisk import AsteriskProcess
from core.settings import PathSettings, Settings, SiteSettings
from tests.support.pbx import EventLog, free_port

MODULES = """
res_timing_timerfd res_sorcery_config res_sorcery_memory res_sorcery_astdb res_pjproject res_pjsip
res_pjsip_session res_pjsip_outbound_authenticator_digest res_pjsip_authenticator_digest
res_pjsip_endpoint_identifier_ip res_pjsip_outbound_registration res_pjsip_sdp_rtp res_pjsip_caller_id
res_pjsip_header_funcs res_pjsip_pubsub res_rtp_asterisk chan_pjsip codec_ulaw codec_alaw pbx_config app_userevent
func_callerid func_channel bridge_simple res_musiconhold app_dial res_pjsip_refer app_transfer func_db res_pjsip_logger
""".split()


@dataclass
class SipPhone:
    asterisk: AsteriskProcess
    ami: AmiManager
    events: EventLog
    sip_port: int = 0  # where it listens: its contact on the PBX says so
    seat: str = ""
    pbx_port: int = 0  # the PBX's SIP port: where its transfers point
    sip_log: Path | None = None  # every SIP message it sent and received

    @classmethod
    async def start(cls, directory: Path, pbx: Settings, seat: str, password: str) -> SipPhone:
        settings = Settings(site=SiteSettings(centres=pbx.site.centres),
                            paths=PathSettings(state_dir=directory, asterisk_prefix=pbx.paths.asterisk_prefix))
        run, etc = settings.paths.run_dir, settings.paths.run_dir / "etc"
        for sub in ("etc", "lib", "run", "log", "spool", "data"):
            (run / sub).mkdir(parents=True, exist_ok=True)
        sip_port, ami_port = free_port(), free_port()
        secret = "phone-ami-secret-for-tests"
        (etc / "asterisk.conf").write_text(
            f"[directories]\nastetcdir => {etc}\nastmoddir => {pbx.paths.asterisk_prefix}/lib/asterisk/modules\n"
            f"astvarlibdir => {run}/lib\nastdbdir => {run}/lib\nastkeydir => {run}/lib\n"
            f"astdatadir => {run}/data\nastspooldir => {run}/spool\nastrundir => {run}/run\n"
            f"astlogdir => {run}/log\nastsbindir => {pbx.paths.asterisk_prefix}/sbin\n[options]\nnocolor = yes\n")
        (etc / "modules.conf").write_text("[modules]\nautoload = no\n" + "".join(f"load => {m}.so\n" for m in MODULES))
        (etc / "logger.conf").write_text("[logfiles]\nmessages.log => notice,warning,error,verbose\n")
        (etc / "rtp.conf").write_text("[general]\nrtpstart = 31000\nrtpend = 31999\n")
        (etc / "manager.conf").write_text(
            f"[general]\nenabled = yes\nport = {ami_port}\nbindaddr = 127.0.0.1\n"
            f"[phone]\nsecret = {secret}\nread = all\nwrite = all\n")
        (etc / "pjsip.conf").write_text(f"""
[transport-udp]
type = transport
protocol = udp
bind = 127.0.0.1:{sip_port}

[pbx]
type = endpoint
context = phone
disallow = all
allow = ulaw,alaw
; a desk phone shows what its PBX says is on the line (PAI, connected-line updates)
trust_id_inbound = yes
outbound_auth = pbx-auth
aors = pbx
direct_media = no
; calls the phone places (the seat keys) come from the seat
from_user = {seat}

[pbx-auth]
type = auth
auth_type = userpass
username = {seat}
password = {password}

[pbx]
type = aor
contact = sip:127.0.0.1:{pbx.network.sip_port}

[pbx]
type = identify
endpoint = pbx
match = 127.0.0.1

[pbx-reg]
type = registration
outbound_auth = pbx-auth
server_uri = sip:127.0.0.1:{pbx.network.sip_port}
client_uri = sip:{seat}@127.0.0.1:{pbx.network.sip_port}
contact_user = {seat}
retry_interval = 2
expiration = 120
""")
        rang = (f"PhoneRang,Seat: {seat},ShownNum: ${{CALLERID(num)}},"
                "PAI: ${PJSIP_HEADER(read,P-Asserted-Identity)},Line: ${CHANNEL(name)}")
        (etc / "extensions.conf").write_text(f"""
[phone]
exten => {seat},1,GotoIf($["${{DB(phone/answer)}}" = "no"]?ring)
 same => n,Answer()
 same => n,UserEvent({rang})
 same => n,Wait(600)
 same => n,Hangup()
 same => n(ring),Ringing()
 same => n,UserEvent(PhoneRinging,Seat: {seat},ShownNum: ${{CALLERID(num)}})
 same => n,Wait(600)
 same => n,Hangup()
; the far end of a consultation call this phone placed answered
exten => consult,1,UserEvent(PhoneConsultAnswered,Seat: {seat},Line: ${{CHANNEL(name)}})
 same => n,Wait(600)
 same => n,Hangup()
; the Transfer button on an answered call: chan_pjsip sends REFER, Refer-To: XFER_TO
exten => transfer,1,Transfer(PJSIP/${{XFER_TO}})
 same => n,UserEvent(PhoneTransferred,Seat: {seat},Status: ${{TRANSFERSTATUS}},Protocol: ${{TRANSFERSTATUSPROTOCOL}})
 same => n,GotoIf($["${{TRANSFERSTATUS}}" = "SUCCESS"]?done)
 ; refused: the call goes on, as on a phone
 same => n,Wait(600)
 same => n(done),Hangup()
""")
        asterisk = AsteriskProcess(settings)
        await asterisk.start()
        ami = AmiManager("127.0.0.1", ami_port, "phone", secret)
        events = EventLog()
        ami.on_event("*", events.record)
        await ami.start()
        await ami.wait_connected(timeout=20)
        # every SIP message in and out goes to messages.log: what the phone was told (`received`)
        await ami.send({"Action": "Command", "Command": "pjsip set logger on"})
        return cls(asterisk, ami, events, sip_port, seat, pbx.network.sip_port, run / "log" / "messages.log")

    async def dial(self, digits: str) -> None:
        """The phone dials `digits` (a seat key such as *5) and listens to what
        the PBX plays until the PBX hangs up."""
        reply = await self.ami.send({"Action": "Originate", "Channel": f"PJSIP/{digits}@pbx",
                                     "Application": "Wait", "Data": "10", "Async": "true"}, ack_only=True)
        first = reply[0] if isinstance(reply, list) else reply
        assert first.get("Response") == "Success", first

    async def channels(self) -> list[str]:
        reply = await self.ami.send({"Action": "CoreShowChannels"})
        return [m["Channel"] for m in (reply if isinstance(reply, list) else [reply])
                if m.get("Event") == "CoreShowChannel"]

    def received(self, method: str) -> list[str]:
        """The SIP requests `method` this phone received, as logged (start line and headers)."""
        text = self.sip_log.read_text(errors="replace") if self.sip_log and self.sip_log.exists() else ""
        messages = text.split("<--- Received SIP request")[1:]
        return [m.split("--->", 1)[-1].split("\n\n", 1)[0].strip() for m in messages
                if m.split("--->", 1)[-1].lstrip().startswith(method + " ")]

    async def set_answering(self, answering: bool) -> None:
        """Answer calls (the default) or let them ring."""
        reply = await self.ami.send({"Action": "DBPut", "Family": "phone", "Key": "answer",
                                     "Val": "yes" if answering else "no"})
        assert reply.get("Response") == "Success", reply  # type: ignore[union-attr]

    async def answered_call(self, timeout: float = 15.0) -> str:
        """The channel of the call this phone answered (its PhoneRang)."""
        rang = await self.events.wait_for(lambda e: e.get("UserEvent") == "PhoneRang", timeout=timeout,
                                          what=f"phone {self.seat} answering")
        return str(rang["Line"])

    async def blind_transfer(self, channel: str, number: str) -> None:
        """The Transfer button on call `channel`: REFER to `number` at the PBX."""
        await self._transfer(channel, f"sip:{number}@127.0.0.1:{self.pbx_port}")

    async def consult(self, number: str, timeout: float = 15.0) -> str:
        """A second call from this seat to `number`; returns its channel once answered."""
        reply = await self.ami.send({"Action": "Originate", "Channel": f"PJSIP/{number}@pbx",
                                     "Context": "phone", "Exten": "consult", "Priority": "1",
                                     "Timeout": "20000", "Async": "true"}, ack_only=True)
        first = reply[0] if isinstance(reply, list) else reply
        assert first.get("Response") == "Success", first
        answered = await self.events.wait_for(lambda e: e.get("UserEvent") == "PhoneConsultAnswered",
                                              timeout=timeout, what=f"phone {self.seat}'s consultation answered")
        return str(answered["Line"])

    async def attended_transfer(self, channel: str, consultation: str, number: str) -> None:
        """Complete the transfer: REFER on call `channel` with Refer-To `number`
        and Replaces naming the consultation call's dialog (as the PBX sees it:
        its to-tag is the PBX's tag, its from-tag this phone's)."""
        call_id = await self._get(consultation, "CHANNEL(pjsip,call-id)")
        local_tag = await self._get(consultation, "CHANNEL(pjsip,local_tag)")
        remote_tag = await self._get(consultation, "CHANNEL(pjsip,remote_tag)")
        replaces = f"{call_id}%3Bto-tag%3D{remote_tag}%3Bfrom-tag%3D{local_tag}"
        await self._transfer(channel, f"<sip:{number}@127.0.0.1:{self.pbx_port}?Replaces={replaces}>")

    async def conference(self, channel: str, consultation: str) -> None:
        """The Conference/Merge button of a phone that mixes locally: its two
        calls joined on the phone itself (here a bridge in the phone's own
        Asterisk); nothing is sent to the PBX."""
        reply = await self.ami.send({"Action": "Bridge", "Channel1": channel, "Channel2": consultation,
                                     "Tone": "no"})
        assert reply.get("Response") == "Success", reply  # type: ignore[union-attr]

    async def _get(self, channel: str, expression: str) -> str:
        reply = await self.ami.send({"Action": "Getvar", "Channel": channel, "Variable": expression})
        value = str(reply.get("Value") or "")  # type: ignore[union-attr]
        assert value, f"{expression} of {channel}: {reply}"
        return value

    async def _transfer(self, channel: str, refer_to: str) -> None:
        for action in ({"Action": "Setvar", "Channel": channel, "Variable": "XFER_TO", "Value": refer_to},
                       {"Action": "Redirect", "Channel": channel, "Context": "phone", "Exten": "transfer",
                        "Priority": "1"}):
            reply = await self.ami.send(action)
            assert reply.get("Response") == "Success", (action, reply)  # type: ignore[union-attr]

    async def stop(self) -> None:
        await self.ami.close()
        await self.asterisk.stop()


async def registered(pbx_ami: AmiManager, aor: str, port: int | None = None) -> bool:
    """Seat `aor` has a reachable contact on the PBX (its phone registered);
    `port`: that contact is the phone listening there (not an earlier phone's)."""
    reply = await pbx_ami.send({"Action": "PJSIPShowContacts"})
    msgs = reply if isinstance(reply, list) else [reply]
    return any(m.get("Event") == "ContactList" and m.get("Endpoint") == aor and m.get("Status") != "Unreachable"
               and (port is None or f":{port}" in str(m.get("Uri", ""))) for m in msgs)
