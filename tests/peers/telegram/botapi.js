// A Telegram Bot API emulator for alarmgw's tests: the npm telegram-test-api server (4.2.1),
// mounted behind a thin front that makes it answer as the real Bot API where the bot under
// test depends on it. What the front changes, and why (everything else is the package's):
//
// - getMe: the package's answer has no `is_bot`, which python-telegram-bot requires.
// - dates: the package stamps the bot's own messages (sendMessage's result) in milliseconds;
//   the Bot API's dates are Unix seconds. Any date over 1e11 is divided by 1000.
// - getUpdates: the package marks an update read the moment it returns it and ignores
//   `offset` and `timeout`. The real Bot API keeps an update until a later getUpdates
//   carries an offset past its update_id (https://core.telegram.org/bots/api#getupdates),
//   and long-polls. The front implements that on the package's own update storage: an
//   update is dropped only when an offset passes it, so a bot that dies before confirming
//   gets it again.
// - setWebhook / deleteWebhook / getWebhookInfo: the package pushes an update once, without
//   the X-Telegram-Bot-Api-Secret-Token header, and an answer other than 2xx becomes an
//   unhandled rejection. The front pushes the stored updates in order with the secret and
//   retries until the bot answers 2xx, as Telegram does.
// - getFile and file downloads (/file/bot<token>/<path>): not in the package. A test puts a
//   file's bytes with /_alarmgw/file; getFile and the download serve them.
// - answerCallbackQuery: the package answers true and forgets; the front records it for
//   the test (/_alarmgw/answers).
// - faults: /_alarmgw/fail makes the next N calls of a method (to a chat) answer 429 with retry_after
//   (Telegram's flood control, which the package never produces).
//
// A test drives the user's side with the package's own client routes (/sendMessage,
// /sendCommand, /sendCallback, /getUpdates for the bot's messages to a chat,
// /getUpdatesHistory) and the front's /_alarmgw/* routes. Started with `--port 0`, it prints
// {"event": "listening", "port": N} on stdout.
'use strict';

const express = require('express');
const http = require('http');
const TelegramServer = require('telegram-test-api');

const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};

// storeTimeout: the package drops stored updates older than this (seconds); a test's
// updates must outlive any test.
const emulator = new TelegramServer({ port: 0, storeTimeout: 24 * 3600 });
const files = {}; // file_id → {data: Buffer, path}
const answers = []; // answerCallbackQuery calls
const faults = {}; // method → how many calls still answer 429
const webhooks = {}; // token → {url, secret}
const confirmed = {}; // token → the highest offset a getUpdates carried
const calls = []; // {method, params, status} of every Bot API call, for the tests

const seconds = (t) => (typeof t === 'number' && t > 1e11 ? Math.floor(t / 1000) : t);

function fixDates(obj) {
  if (Array.isArray(obj)) return obj.map(fixDates);
  if (obj && typeof obj === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(obj)) {
      out[k] = k === 'date' || k === 'edit_date' ? seconds(v) : fixDates(v);
    }
    return out;
  }
  return obj;
}

function params(req) {
  return Object.assign({}, req.query || {}, req.body || {});
}

function pending(token) {
  return emulator.storage.userMessages.filter((u) => u.botToken === token);
}

function format(u) {
  const update = fixDates(TelegramServer.formatUpdate(u));
  if (update.message) delete update.message.botToken; // the package's, not Telegram's
  return update;
}

function waitForUpdate(ms) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      for (const e of ['AddedUserMessage', 'AddedUserCommand', 'AddedUserCallbackQuery']) {
        emulator.off(e, done);
      }
      resolve();
    };
    const timer = setTimeout(done, ms);
    for (const e of ['AddedUserMessage', 'AddedUserCommand', 'AddedUserCallbackQuery']) {
      emulator.on(e, done);
    }
  });
}

const front = express();
front.use(express.json({ limit: '50mb' }));
front.use(express.urlencoded({ extended: true }));

// Every Bot API call is recorded, and may be made to fail with 429 first.
front.all('/bot:token/:method', (req, res, next) => {
  const method = req.params.method;
  const p = params(req);
  const entry = { method, params: p, status: 0 };
  calls.push(entry);
  res.on('finish', () => { entry.status = res.statusCode; });
  const fault = faults[method];
  if (fault && fault.count > 0 && (fault.chat_id === null || String(p.chat_id) === fault.chat_id)) {
    fault.count -= 1;
    const retry = fault.retry_after;
    res.status(429).json({
      ok: false,
      error_code: 429,
      description: `Too Many Requests: retry after ${retry}`,
      parameters: { retry_after: retry },
    });
    return;
  }
  next();
});

front.all('/bot:token/getMe', (req, res) => {
  res.json({
    ok: true,
    result: { id: 666, is_bot: true, first_name: 'Test First name', username: 'TestNameBot' },
  });
});

front.all('/bot:token/getUpdates', async (req, res) => {
  const token = req.params.token;
  if (webhooks[token]) {
    res.status(409).json({
      ok: false,
      error_code: 409,
      description: "Conflict: can't use getUpdates method while webhook is active",
    });
    return;
  }
  const p = params(req);
  const offset = p.offset !== undefined ? Number(p.offset) : undefined;
  if (offset !== undefined) {
    // Telegram: "An update is considered confirmed as soon as getUpdates is called with an
    // offset higher than its update_id."
    confirmed[token] = Math.max(confirmed[token] || 0, offset);
    emulator.storage.userMessages = emulator.storage.userMessages.filter(
      (u) => u.botToken !== token || u.updateId >= offset,
    );
  }
  const timeout = Math.min(Number(p.timeout || 0), 50);
  if (pending(token).length === 0 && timeout > 0) {
    await waitForUpdate(timeout * 1000);
  }
  const limit = Math.max(1, Math.min(Number(p.limit || 100), 100));
  const result = pending(token).slice(0, limit).map(format);
  res.json({ ok: true, result });
});

front.all('/bot:token/sendMessage', (req, res) => {
  const token = req.params.token;
  const result = emulator.addBotMessage(params(req), token);
  res.json({ ok: true, result: fixDates(result) });
});

front.all('/bot:token/answerCallbackQuery', (req, res) => {
  answers.push(params(req));
  res.json({ ok: true, result: true });
});

front.all('/bot:token/getFile', (req, res) => {
  const id = params(req).file_id;
  const f = files[id];
  if (!f) {
    res.status(400).json({ ok: false, error_code: 400, description: 'Bad Request: invalid file_id' });
    return;
  }
  res.json({
    ok: true,
    result: { file_id: id, file_unique_id: `u${id}`, file_size: f.data.length, file_path: f.path },
  });
});

front.get('/file/bot:token/*', (req, res) => {
  const path = req.params[0];
  const f = Object.values(files).find((x) => x.path === path);
  if (!f) {
    res.status(404).send('Not Found');
    return;
  }
  res.type('application/octet-stream').send(f.data);
});

front.all('/bot:token/setWebhook', (req, res) => {
  const p = params(req);
  webhooks[req.params.token] = { url: p.url, secret: p.secret_token || null };
  res.json({ ok: true, result: true, description: 'Webhook was set' });
});

front.all('/bot:token/deleteWebhook', (req, res) => {
  delete webhooks[req.params.token];
  res.json({ ok: true, result: true, description: 'Webhook was deleted' });
});

front.all('/bot:token/getWebhookInfo', (req, res) => {
  const w = webhooks[req.params.token];
  res.json({
    ok: true,
    result: { url: w ? w.url : '', has_custom_certificate: false, pending_update_count: pending(req.params.token).length },
  });
});

// -- the test's side --------------------------------------------------------------------------

front.post('/_alarmgw/file', (req, res) => {
  const { file_id: id, data_base64: data, path } = req.body;
  files[id] = { data: Buffer.from(data, 'base64'), path: path || `files/${id}` };
  res.json({ ok: true });
});

// An update exactly as given (a message with its own message_id): Telegram sending the same
// message twice, an edited message, a malformed update.
front.post('/_alarmgw/update', (req, res) => {
  const { token, update } = req.body;
  const updateId = emulator.updateId;
  emulator.updateId += 1;
  const entry = { time: Date.now(), botToken: token, updateId, isRead: false };
  if (update.message) {
    entry.message = update.message;
    entry.messageId = update.message.message_id;
  } else {
    // formatUpdate knows messages and callback queries only: anything else rides as it is.
    entry.raw = update;
  }
  emulator.storage.userMessages.push(entry);
  emulator.emit('AddedUserMessage');
  res.json({ ok: true, update_id: updateId });
});

front.get('/_alarmgw/answers', (req, res) => res.json({ ok: true, result: answers }));
front.get('/_alarmgw/calls', (req, res) => res.json({ ok: true, result: calls }));
front.get('/_alarmgw/state', (req, res) => {
  const token = req.query.token;
  res.json({
    ok: true,
    result: {
      confirmed: confirmed[token] || 0,
      pending: pending(token).map((u) => u.updateId),
      webhook: webhooks[token] || null,
    },
  });
});
front.post('/_alarmgw/fail', (req, res) => {
  const { method, count, retry_after: retryAfter, chat_id: chatId } = req.body;
  faults[method] = {
    count: Number(count || 1),
    retry_after: Number(retryAfter || 1),
    chat_id: chatId === undefined || chatId === null ? null : String(chatId),
  };
  res.json({ ok: true });
});

front.use(emulator.webServer);

// formatUpdate of an entry pushed as `raw`.
const formatUpdate = TelegramServer.formatUpdate;
TelegramServer.formatUpdate = (u) => (u.raw ? { ...u.raw, update_id: u.updateId } : formatUpdate(u));

// -- webhook pushes: in order, one at a time, retried until the bot answers 2xx ---------------

async function push() {
  for (const [token, hook] of Object.entries(webhooks)) {
    const next = pending(token)[0];
    if (!next) continue;
    const body = JSON.stringify(format(next));
    const headers = { 'Content-Type': 'application/json' };
    if (hook.secret) headers['X-Telegram-Bot-Api-Secret-Token'] = hook.secret;
    let status = 0;
    try {
      const r = await fetch(hook.url, { method: 'POST', headers, body });
      status = r.status;
      await r.text();
    } catch (e) {
      status = 0;
    }
    calls.push({ method: 'webhook', params: { update_id: next.updateId }, status });
    if (status >= 200 && status < 300) {
      emulator.storage.userMessages = emulator.storage.userMessages.filter((u) => u !== next);
      confirmed[token] = next.updateId + 1;
    } else {
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  setTimeout(push, 50);
}

const server = http.createServer(front);
server.listen(Number(arg('port', '0')), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ event: 'listening', port: server.address().port })}\n`);
  push();
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
