#!/usr/bin/env node
// A scriptable SMSC for the SMS tests: the npm `smpp` package (0.5.1) as the SMPP 3.4
// server, driven by tests/peers/smsc.py over a line-based JSON channel. The protocol
// handling (PDU framing, encoding, sequence numbers of what the SMSC sends) is the
// library's; this script only answers the ESME and plays scenarios.
//
//   node smsc.js [--port N] [--system-id ID] [--password PW] [--deliver-timeout S]
//                [--test-account ID:PASSWORD] [--service-number N]
//   (or SMSC_PORT, SMSC_SYSTEM_ID, SMSC_PASSWORD, SMSC_DELIVER_TIMEOUT, SMSC_TEST_ACCOUNT,
//   SMSC_SERVICE_NUMBER; port 0 picks one)
//
// The test account (测试账号), as operators offer one: a second ESME (any bind; its own
// system_id and password) standing for a handset. Its submit_sm to the service number
// (default 12110, or a number starting with it: 1211099) is answered at once (a message_id),
// then handed to the ESME's latest session bound to receive as an MO deliver_sm: the same
// source, destination (with their ton/npi), protocol_id, data_coding and message octets, the
// UDHI bit of esm_class, and the TLVs message_payload and sar_* as submitted. It is not
// throttled and asks no receipt. To another destination: ESME_RINVDSTADR; with no session
// bound to receive: ESME_RSUBMITFAIL (nothing is queued). A test-account session never
// receives deliver_sm itself.
//
// stdin, one JSON object a line (every command is acknowledged by {"event":"ack",...}
// carrying its "id", or by {"event":"error",...} with that id):
//   {"cmd":"deliver","session":0,"source_addr":"13800138000","destination_addr":"12110",
//    "data_coding":8,"short_message_hex":"...","esm_class":0,
//    "tlvs":{"message_payload":"<hex>","sar_msg_ref_num":1,...},"timeout":5,"id":"d1"}
//        -> deliver_sm; later {"event":"deliver_sm_resp","id":"d1","command_status":0,"ms":N}
//           or {"event":"deliver_timeout","id":"d1"}
//   {"cmd":"receipt","message_id":"...","stat":"DELIVRD","err":"000","id":"r1"}
//        -> a delivery receipt (deliver_sm, esm_class 0x04), answered like deliver
//   {"cmd":"blast","session":0,"n":5000,"window":20,"rate":0,"source_prefix":"1390000",
//    "destination_addr":"12110","data_coding":8,"texts_hex":["..."],"timeout":10,"id":"b1"}
//        -> n deliver_sm for a throughput benchmark, at most `window` (default 1) awaiting
//           their resp and, unless `rate` is 0 (the default), at most `rate` a second.
//           Message i comes from source_prefix (default 1390000) + i zero-padded to the width
//           of n-1, to destination_addr (default 12110), with data_coding (default 8) and
//           texts_hex[i % length], by default a UCS2 alarm text ending in i as UCS2 digits.
//           A resp with an error status is counted, the message not resent. When all are
//           answered or timed out (or the session closed: the rest count as timeouts), ONE
//           {"event":"blast_done","id":"b1","session":0,"n":5000,"ok":K,"statuses":{"0":K},
//            "timeouts":T,"elapsed_s":S,"rate":R,"p50":MS,"p90":MS,"p99":MS,"max":MS}
//           with statuses by decimal command_status, R the answered per second over the
//           whole blast, and percentiles of ms from send to resp of the answered (null if
//           none); no event per message.
//   {"cmd":"throttle","n":K}  the next K submit_sm are answered ESME_RTHROTTLED (0x58)
//   {"cmd":"unbind"}          send unbind to the ESME(s)
//   {"cmd":"drop"}            destroy the TCP socket(s) abruptly
//   {"cmd":"sessions"}        ack carries the open sessions
// stdout events: listening, bind, submit_sm, enquire_link, unbind, unbind_resp,
//   deliver_sm_resp, deliver_timeout, blast_done, close, ack, error, pdu (anything else
//   received), and for the test account:
//   {"event":"mo","id":"mo1","session":1,"to_session":0,"sequence_number":N,"message_id":"…",
//    "command_status":0,"source_addr":…,"destination_addr":…,"esm_class":…,"data_coding":…,
//    "short_message_hex":…,"tlvs":{…}} for each of its submit_sm (to_session null when it
//    was refused), then the deliver_sm_resp or deliver_timeout of its delivery, by that id.
//   A bind event says "test_account": true when the test account bound.
// stdin closing ends the process.
'use strict';

const readline = require('readline');
const smpp = require('smpp');

function arg(name, envName, fallback) {
  const i = process.argv.indexOf('--' + name);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  if (process.env[envName] !== undefined) return process.env[envName];
  return fallback;
}

const PORT = parseInt(arg('port', 'SMSC_PORT', '0'), 10);
const SYSTEM_ID = arg('system-id', 'SMSC_SYSTEM_ID', 'alarmgw');
const PASSWORD = arg('password', 'SMSC_PASSWORD', 'secret');
const DELIVER_TIMEOUT = parseFloat(arg('deliver-timeout', 'SMSC_DELIVER_TIMEOUT', '5'));
const TEST_ACCOUNT = (() => {
  const v = arg('test-account', 'SMSC_TEST_ACCOUNT', '');
  const colon = v.indexOf(':');
  return colon > 0 ? {system_id: v.slice(0, colon), password: v.slice(colon + 1)} : null;
})();
const SERVICE_NUMBER = arg('service-number', 'SMSC_SERVICE_NUMBER', '12110');

// Keep message bytes exact. The library's `message` filter decodes short_message and
// message_payload on receipt into {udh: [...], message: <string>} by data_coding (UCS2
// through iconv, GSM 03.38 when a national-language UDH is there), and its `time` filter
// turns schedule_delivery_time / validity_period into Date objects. Both are dropped here, so
// what is received stays the Buffer / string that was on the wire. On sending, the filter
// already passes a Buffer through untouched, and with the filter gone a Buffer is all the
// buffer type writes.
for (const name of Object.keys(smpp.commands)) {
  const params = smpp.commands[name].params || {};
  for (const key of Object.keys(params)) {
    if (params[key].filter === smpp.filters.message || params[key].filter === smpp.filters.time) {
      delete params[key].filter;
    }
  }
}
delete smpp.tlvs.message_payload.filter;

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

const BIND_COMMANDS = ['bind_transceiver', 'bind_receiver', 'bind_transmitter'];
const sessions = new Map(); // index -> {session, index, bound, command, system_id, test}
let nextIndex = 0;
let nextMo = 1;
let throttleLeft = 0;
let nextMessageId = 1;

function messageId() {
  // Fresh and distinct across runs of the peer: a run prefix plus a counter.
  return RUN_PREFIX + (nextMessageId++).toString(16).padStart(6, '0');
}
const RUN_PREFIX = (Date.now() % 0xffffff).toString(16).padStart(6, '0');

function hex(v) {
  if (Buffer.isBuffer(v)) return v.toString('hex');
  return v;
}

// Everything on the PDU that is a TLV (known ones by name, unknown ones by numeric tag),
// with Buffers as hex.
function tlvsOf(pdu) {
  const params = (smpp.commands[pdu.command] || {}).params || {};
  const out = {};
  for (const key of Object.keys(pdu)) {
    if (key in params) continue;
    if (key in smpp.tlvs) {
      const v = pdu[key];
      out[key] = Array.isArray(v) ? v.map(hex) : hex(v);
    } else if (/^\d+$/.test(key)) {
      out['0x' + parseInt(key, 10).toString(16).padStart(4, '0')] = hex(pdu[key]);
    }
  }
  return out;
}

function canReceive(s) {
  return s.bound && !s.test &&
    (s.command === 'bind_transceiver' || s.command === 'bind_receiver');
}

function canTransmit(s) {
  return s.bound && (s.command === 'bind_transceiver' || s.command === 'bind_transmitter');
}

function pickReceiver(index) {
  if (index !== undefined && index !== null) {
    const s = sessions.get(index);
    if (!s) throw new Error('no session ' + index);
    if (!canReceive(s)) throw new Error('session ' + index + ' is not bound to receive');
    return s;
  }
  let found = null;
  for (const s of sessions.values()) if (canReceive(s)) found = s; // the latest one
  if (!found) throw new Error('no session bound as receiver or transceiver');
  return found;
}

// Send a deliver_sm and report its deliver_sm_resp (or its absence) under `id`.
function sendDeliver(s, fields, id, timeoutS) {
  const pdu = new smpp.PDU('deliver_sm', fields);
  const started = process.hrtime.bigint();
  let done = false;
  const timer = setTimeout(() => {
    if (done) return;
    done = true;
    delete s.session._callbacks[pdu.sequence_number];
    emit({event: 'deliver_timeout', id: id, session: s.index,
      sequence_number: pdu.sequence_number});
  }, timeoutS * 1000);
  const sent = s.session.send(pdu, (resp) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    emit({event: 'deliver_sm_resp', id: id, session: s.index, command_status: resp.command_status,
      sequence_number: resp.sequence_number, ms: Math.round(ms * 1000) / 1000});
  });
  if (!sent) {
    done = true;
    clearTimeout(timer);
    throw new Error('session ' + s.index + ' is not writable');
  }
  return pdu.sequence_number;
}

function deliverFields(cmd) {
  const fields = {
    service_type: cmd.service_type || '',
    source_addr_ton: cmd.source_addr_ton || 0,
    source_addr_npi: cmd.source_addr_npi || 0,
    source_addr: cmd.source_addr || '',
    dest_addr_ton: cmd.dest_addr_ton || 0,
    dest_addr_npi: cmd.dest_addr_npi || 0,
    destination_addr: cmd.destination_addr || '',
    esm_class: cmd.esm_class || 0,
    protocol_id: cmd.protocol_id || 0,
    priority_flag: cmd.priority_flag || 0,
    registered_delivery: cmd.registered_delivery || 0,
    data_coding: cmd.data_coding || 0,
    short_message: Buffer.from(cmd.short_message_hex || '', 'hex'),
  };
  for (const [key, value] of Object.entries(cmd.tlvs || {})) {
    const def = smpp.tlvs[key];
    if (!def) throw new Error('unknown TLV ' + key);
    // Buffer-typed TLVs come as hex; the rest (ints, cstrings) as they are.
    fields[key] = def.type === smpp.types.tlv.buffer ? Buffer.from(value, 'hex') : value;
  }
  return fields;
}

// What a handset's message carries beyond short_message, passed on to the ESME as it came.
const MO_TLVS = ['message_payload', 'sar_msg_ref_num', 'sar_total_segments',
  'sar_segment_seqnum'];

// A test account's submit_sm, answered (the submit_sm_resp) and handed to the ESME as an MO
// deliver_sm; reported as one "mo" event, then the delivery's resp under the same id.
function moFromTestAccount(s, pdu) {
  const id = 'mo' + nextMo++;
  const tlvs = {};
  for (const key of MO_TLVS) if (pdu[key] !== undefined) tlvs[key] = pdu[key];
  const ev = {event: 'mo', id: id, session: s.index, to_session: null,
    sequence_number: pdu.sequence_number, source_addr: pdu.source_addr,
    destination_addr: pdu.destination_addr, esm_class: pdu.esm_class,
    data_coding: pdu.data_coding, short_message_hex: hex(pdu.short_message), tlvs: tlvsOf(pdu)};
  let receiver = null;
  let status = smpp.ESME_ROK;
  if (!String(pdu.destination_addr).startsWith(SERVICE_NUMBER)) status = smpp.ESME_RINVDSTADR;
  else {
    try {
      receiver = pickReceiver();
    } catch (e) {
      status = smpp.ESME_RSUBMITFAIL;
    }
  }
  ev.command_status = status;
  if (status !== smpp.ESME_ROK) {
    s.session.send(pdu.response({command_status: status}));
    emit(ev);
    return;
  }
  ev.message_id = messageId();
  ev.to_session = receiver.index;
  s.session.send(pdu.response({message_id: ev.message_id}));
  emit(ev);
  const fields = Object.assign({
    source_addr_ton: pdu.source_addr_ton,
    source_addr_npi: pdu.source_addr_npi,
    source_addr: pdu.source_addr,
    dest_addr_ton: pdu.dest_addr_ton,
    dest_addr_npi: pdu.dest_addr_npi,
    destination_addr: pdu.destination_addr,
    esm_class: pdu.esm_class & 0x40, // UDHI; the rest of a submit_sm's esm_class is its own
    protocol_id: pdu.protocol_id,
    data_coding: pdu.data_coding,
    short_message: pdu.short_message,
  }, tlvs);
  try {
    sendDeliver(receiver, fields, id, DELIVER_TIMEOUT);
  } catch (e) {
    emit({event: 'deliver_timeout', id: id, session: receiver.index, message: e.message});
  }
}

function smscTime(d) {
  const p = (n) => String(n).padStart(2, '0');
  return p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) +
    p(d.getUTCHours()) + p(d.getUTCMinutes());
}

const MESSAGE_STATE = {ENROUTE: 1, DELIVRD: 2, EXPIRED: 3, DELETED: 4, UNDELIV: 5,
  ACCEPTD: 6, UNKNOWN: 7, REJECTD: 8};

function receiptFields(cmd) {
  const stat = cmd.stat || 'DELIVRD';
  const now = smscTime(new Date());
  const dlvrd = stat === 'DELIVRD' ? '001' : '000';
  const text = 'id:' + cmd.message_id + ' sub:001 dlvrd:' + dlvrd + ' submit date:' +
    (cmd.submit_date || now) + ' done date:' + (cmd.done_date || now) + ' stat:' + stat +
    ' err:' + (cmd.err || '000') + ' text:' + (cmd.text || '');
  const fields = {
    source_addr: cmd.source_addr || '',
    destination_addr: cmd.destination_addr || '',
    esm_class: 0x04,
    data_coding: 0,
    short_message: Buffer.from(text, 'ascii'),
    receipted_message_id: cmd.message_id,
    message_state: MESSAGE_STATE[stat] || 7,
  };
  return fields;
}

// The default text of a blast: an alarm as one comes in, in UCS2 (data_coding 8). Each
// message appends its index, so no two are the same and none can pass for a duplicate.
const BLAST_TEXT = '救命，有人闯入我家，地址：幸福路12号3单元';

function ucs2(text) {
  // Node has no UTF-16BE codec: encode little-endian and swap each pair.
  return Buffer.from(text, 'utf16le').swap16();
}

function round3(x) {
  return Math.round(x * 1000) / 1000;
}

// Nearest rank: the smallest value with at least p % of the values at or below it.
function percentile(sorted, p) {
  return sorted[Math.max(0, Math.ceil(p / 100 * sorted.length) - 1)];
}

// Send `cmd.n` deliver_sm on `s` for a throughput benchmark, at most `cmd.window` awaiting
// their resp and (with `cmd.rate`) at most `cmd.rate` a second, then report them all in one
// blast_done event: one event a message would be more stdout than the run itself.
function blast(s, cmd, id) {
  const n = cmd.n;
  const windowSize = cmd.window === undefined ? 1 : cmd.window;
  const rate = cmd.rate || 0;
  if (!Number.isInteger(n) || n < 1) throw new Error('n must be a positive integer');
  if (!Number.isInteger(windowSize) || windowSize < 1) {
    throw new Error('window must be a positive integer');
  }
  if (typeof rate !== 'number' || rate < 0) throw new Error('rate must be a number >= 0');
  const texts = cmd.texts_hex === undefined ? null :
    cmd.texts_hex.map((h) => Buffer.from(h, 'hex'));
  if (texts && !texts.length) throw new Error('texts_hex is empty');
  // SMPP's limit; past 255 octets the library throws, which mid-blast would end the process.
  if (texts && texts.some((t) => t.length > 254)) throw new Error('a text is over 254 octets');
  const prefix = cmd.source_prefix === undefined ? '1390000' : String(cmd.source_prefix);
  const width = String(n - 1).length;
  const timeoutS = cmd.timeout || DELIVER_TIMEOUT;

  const started = process.hrtime.bigint();
  const latencies = new Float64Array(n); // ms from send to resp, of the answered ones
  let answered = 0;
  const statuses = {};
  let timeouts = 0;
  let next = 0; // index of the next message to send
  const inflight = new Map(); // sequence_number -> its timeout
  let rateTimer = null;
  let finished = false;

  function fields(i) {
    return {
      source_addr: prefix + String(i).padStart(width, '0'),
      destination_addr: cmd.destination_addr === undefined ? '12110' : cmd.destination_addr,
      data_coding: cmd.data_coding === undefined ? 8 : cmd.data_coding,
      short_message: texts ? texts[i % texts.length] : ucs2(BLAST_TEXT + i),
    };
  }

  function sendOne(i) {
    const pdu = new smpp.PDU('deliver_sm', fields(i));
    const sentAt = process.hrtime.bigint();
    const sent = s.session.send(pdu, (resp) => {
      const seq = pdu.sequence_number;
      clearTimeout(inflight.get(seq));
      inflight.delete(seq);
      latencies[answered++] = Number(process.hrtime.bigint() - sentAt) / 1e6;
      statuses[resp.command_status] = (statuses[resp.command_status] || 0) + 1;
      pump();
    });
    if (!sent) return false;
    const seq = pdu.sequence_number;
    inflight.set(seq, setTimeout(() => {
      inflight.delete(seq);
      delete s.session._callbacks[seq];
      timeouts++;
      pump();
    }, timeoutS * 1000));
    return true;
  }

  function pump() {
    if (finished) return;
    while (next < n && inflight.size < windowSize) {
      if (rate > 0) {
        if (rateTimer) return;
        const aheadMs = next * 1000 / rate - Number(process.hrtime.bigint() - started) / 1e6;
        if (aheadMs > 0) {
          rateTimer = setTimeout(() => {
            rateTimer = null;
            pump();
          }, Math.ceil(aheadMs));
          return;
        }
      }
      if (!sendOne(next)) {
        abort(); // the socket is no longer writable: it is closing
        return;
      }
      next++;
    }
    if (next === n && inflight.size === 0) finish();
  }

  // The session closed: its callbacks will never run, so what is unanswered or unsent is lost.
  function abort() {
    if (finished) return;
    for (const [seq, timer] of inflight) {
      clearTimeout(timer);
      delete s.session._callbacks[seq];
    }
    timeouts += inflight.size + (n - next);
    inflight.clear();
    next = n;
    finish();
  }

  function finish() {
    finished = true;
    clearTimeout(rateTimer);
    s.session.removeListener('close', abort);
    const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
    const sorted = latencies.subarray(0, answered).sort();
    const at = (p) => (answered ? round3(percentile(sorted, p)) : null);
    emit({event: 'blast_done', id: id, session: s.index, n: n, ok: statuses[smpp.ESME_ROK] || 0,
      statuses: statuses, timeouts: timeouts, elapsed_s: round3(elapsedS),
      rate: Math.round(answered / elapsedS * 10) / 10, p50: at(50), p90: at(90), p99: at(99),
      max: answered ? round3(sorted[answered - 1]) : null});
  }

  s.session.on('close', abort);
  // Sent from the next turn, so the command's ack comes first.
  setImmediate(pump);
}

// Close our side (FIN after what is queued) and, if the ESME keeps its side open, destroy the
// socket after a second: the library's session.close() is only socket.end().
function hangUp(session) {
  session.close();
  setTimeout(() => session.destroy(), 1000).unref();
}

function onSession(session) {
  const index = nextIndex++;
  const s = {session: session, index: index, bound: false, command: null, system_id: null,
    test: false};
  sessions.set(index, s);

  session.on('error', (e) => emit({event: 'error', session: index, message: String(e && e.message || e)}));
  session.on('close', () => {
    sessions.delete(index);
    emit({event: 'close', session: index});
  });

  for (const command of BIND_COMMANDS) {
    session.on(command, (pdu) => {
      let status = smpp.ESME_ROK;
      const test = TEST_ACCOUNT !== null && pdu.system_id === TEST_ACCOUNT.system_id &&
        pdu.password === TEST_ACCOUNT.password;
      if (s.bound) status = smpp.ESME_RALYBND;
      else if (!test && (pdu.system_id !== SYSTEM_ID || pdu.password !== PASSWORD)) {
        status = smpp.ESME_RBINDFAIL;
      }
      emit({event: 'bind', session: index, command: command, system_id: pdu.system_id,
        system_type: pdu.system_type, interface_version: pdu.interface_version,
        command_status: status, test_account: test});
      if (status === smpp.ESME_ROK) {
        s.bound = true;
        s.command = command;
        s.system_id = pdu.system_id;
        s.test = test;
        session.send(pdu.response({system_id: 'alarmgw-smsc'}));
      } else if (status === smpp.ESME_RBINDFAIL) {
        // A refused bind gets its response, then the SMSC hangs up.
        session.send(pdu.response({command_status: status}), () => hangUp(session));
      } else {
        session.send(pdu.response({command_status: status}));
      }
    });
  }

  session.on('submit_sm', (pdu) => {
    if (s.test && canTransmit(s)) {
      moFromTestAccount(s, pdu);
      return;
    }
    const ev = {event: 'submit_sm', session: index, sequence_number: pdu.sequence_number,
      service_type: pdu.service_type,
      source_addr_ton: pdu.source_addr_ton, source_addr_npi: pdu.source_addr_npi,
      source_addr: pdu.source_addr, dest_addr_ton: pdu.dest_addr_ton,
      dest_addr_npi: pdu.dest_addr_npi, destination_addr: pdu.destination_addr,
      esm_class: pdu.esm_class, protocol_id: pdu.protocol_id, priority_flag: pdu.priority_flag,
      schedule_delivery_time: pdu.schedule_delivery_time, validity_period: pdu.validity_period,
      registered_delivery: pdu.registered_delivery, data_coding: pdu.data_coding,
      short_message_hex: hex(pdu.short_message), tlvs: tlvsOf(pdu)};
    let status = smpp.ESME_ROK;
    if (!canTransmit(s)) status = smpp.ESME_RINVBNDSTS;
    else if (throttleLeft > 0) {
      throttleLeft--;
      status = smpp.ESME_RTHROTTLED;
    }
    ev.command_status = status;
    if (status === smpp.ESME_ROK) {
      ev.message_id = messageId();
      session.send(pdu.response({message_id: ev.message_id}));
    } else {
      // With a non-zero command_status the library sends the bare header (no message_id
      // body), which SMPP 3.4 allows for an error response.
      session.send(pdu.response({command_status: status}));
    }
    emit(ev);
  });

  session.on('enquire_link', (pdu) => {
    emit({event: 'enquire_link', session: index, sequence_number: pdu.sequence_number});
    session.send(pdu.response());
  });

  session.on('unbind', (pdu) => {
    emit({event: 'unbind', session: index, sequence_number: pdu.sequence_number});
    s.bound = false;
    session.send(pdu.response(), () => hangUp(session));
  });

  session.on('unbind_resp', (pdu) => {
    emit({event: 'unbind_resp', session: index, command_status: pdu.command_status});
    s.bound = false;
    hangUp(session);
  });

  session.on('pdu', (pdu) => {
    const known = BIND_COMMANDS.concat(['submit_sm', 'enquire_link', 'unbind', 'unbind_resp',
      'deliver_sm_resp', 'enquire_link_resp']);
    if (known.indexOf(pdu.command) >= 0) return;
    emit({event: 'pdu', session: index, command: pdu.command, command_id: pdu.command_id,
      command_status: pdu.command_status, sequence_number: pdu.sequence_number});
    if (!pdu.isResponse()) {
      // Unknown ids get generic_nack from response(); known ones we do not serve are refused.
      session.send(pdu.command === 'unknown' ? pdu.response() :
        pdu.response({command_status: smpp.ESME_RINVCMDID}));
    }
  });
}

function handle(cmd) {
  const id = cmd.id === undefined ? null : cmd.id;
  const ack = {event: 'ack', cmd: cmd.cmd, id: id};
  switch (cmd.cmd) {
    case 'deliver':
    case 'receipt': {
      const s = pickReceiver(cmd.session);
      const fields = cmd.cmd === 'deliver' ? deliverFields(cmd) : receiptFields(cmd);
      ack.session = s.index;
      ack.sequence_number = sendDeliver(s, fields, id, cmd.timeout || DELIVER_TIMEOUT);
      if (cmd.cmd === 'receipt') ack.short_message = fields.short_message.toString('ascii');
      break;
    }
    case 'blast': {
      const s = pickReceiver(cmd.session);
      blast(s, cmd, id);
      ack.session = s.index;
      ack.n = cmd.n;
      break;
    }
    case 'throttle':
      throttleLeft = cmd.n === undefined ? 1 : cmd.n;
      ack.n = throttleLeft;
      break;
    case 'unbind': {
      const targets = cmd.session === undefined ? Array.from(sessions.values()) :
        [sessions.get(cmd.session)].filter(Boolean);
      for (const s of targets) s.session.unbind();
      ack.sessions = targets.map((s) => s.index);
      break;
    }
    case 'drop': {
      const targets = cmd.session === undefined ? Array.from(sessions.values()) :
        [sessions.get(cmd.session)].filter(Boolean);
      for (const s of targets) s.session.destroy();
      ack.sessions = targets.map((s) => s.index);
      break;
    }
    case 'sessions':
      ack.sessions = Array.from(sessions.values()).map((s) => ({session: s.index, bound: s.bound,
        command: s.command, system_id: s.system_id, test_account: s.test}));
      break;
    default:
      throw new Error('unknown cmd ' + JSON.stringify(cmd.cmd));
  }
  emit(ack);
}

const server = smpp.createServer(onSession);
server.on('error', (e) => {
  emit({event: 'error', message: 'server: ' + e.message});
  process.exit(1);
});
server.listen(PORT, '127.0.0.1', () => {
  emit({event: 'listening', port: server.address().port});
});

const rl = readline.createInterface({input: process.stdin});
rl.on('line', (line) => {
  if (!line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    emit({event: 'error', message: 'bad JSON: ' + e.message});
    return;
  }
  try {
    handle(cmd);
  } catch (e) {
    emit({event: 'error', cmd: cmd.cmd, id: cmd.id === undefined ? null : cmd.id,
      message: e.message});
  }
});
rl.on('close', () => {
  for (const s of sessions.values()) s.session.destroy();
  server.close();
  process.exit(0);
});
