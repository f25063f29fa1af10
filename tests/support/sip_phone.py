"""A real SIP phone for tests: a second Asterisk on loopback that registers to
a seat of the PBX under test with the seat's generated credentials, answers
when it rings, and reports (AMI UserEvent `PhoneRang`) the caller ID and the
P-Asserted-Identity it received — what a desk phone would show.
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
func_callerid func_channel bridge_simple res_musiconhold app_dial
""".split()


@dataclass
class SipPhone:
    asterisk: AsteriskProcess
    ami: AmiManager
    events: EventLog
    sip_port: int = 0  # where it listens: its contact on the PBX says so

    @classmethod
    async def start(cls, directory: Path, pbx: Settings, seat: str, password: str) -> "SipPhone":
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
        (etc / "extensions.conf").write_text(f"""
[phone]
exten => {seat},1,Answer()
 same => n,UserEvent(PhoneRang,Seat: {seat},ShownNum: ${{CALLERID(num)}},PAI: ${{PJSIP_HEADER(read,P-Asserted-Identity)}})
 same => n,Wait(600)
 same => n,Hangup()
""")
        asterisk = AsteriskProcess(settings)
        await asterisk.start()
        ami = AmiManager("127.0.0.1", ami_port, "phone", secret)
        events = EventLog()
        ami.on_event("*", events.record)
        await ami.start()
        await ami.wait_connected(timeout=20)
        return cls(asterisk, ami, events, sip_port)

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

    async def stop(self) -> None:
        await self.ami.close()
        await self.asterisk.stop()
