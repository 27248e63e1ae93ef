// Drives the unmodified npm trino-client for tests/harness/clients/: one Trino client per process.
// Reads one JSON command per stdin line and answers with one JSON object per stdout line.
'use strict';

const readline = require('readline');
const { Trino } = require('trino-client');

function reply(message) {
  process.stdout.write(JSON.stringify(message) + '\n');
}

// The library has no options for user (it reads $USER), client tags or compression: its users pass
// them as extra headers, so do we. axios asks for gzip/deflate/br unless Accept-Encoding is given.
function connect(config) {
  const headers = { 'X-Trino-User': config.user };
  if (config.client_tags && config.client_tags.length) {
    headers['X-Trino-Client-Tags'] = config.client_tags.join(',');
  }
  if (config.compression === false) {
    headers['Accept-Encoding'] = 'identity';
  }
  Object.assign(headers, config.extra_headers || {});
  return Trino.create({
    server: config.server,
    source: config.source || undefined,
    catalog: config.catalog || undefined,
    schema: config.schema || undefined,
    session: config.session_properties || {},
    extraHeaders: headers,
  });
}

// varbinary arrives base64-encoded; the canonical form is lowercase hex, as the other drivers give.
function canonical(value, type) {
  if (value !== null && type === 'varbinary' && typeof value === 'string') {
    return Buffer.from(value, 'base64').toString('hex');
  }
  return value;
}

function describeError(error) {
  if (error.response) {
    const body = typeof error.response.data === 'string' ? error.response.data : JSON.stringify(error.response.data);
    return `HTTP ${error.response.status}: ${error.message}: ${String(body).slice(0, 500)}`;
  }
  return String(error && error.message ? error.message : error);
}

// One statement and what has been read of it so far.
class Running {
  constructor(trino) {
    this.trino = trino;
    this.iter = null;
    this.result = { type: 'result', query_id: null, columns: [], types: [], rows: [], update_count: null, error: null, info_uri: null };
    this.pending = [];   // rows received but not yet handed out by fetch
    this.done = false;
    this.updateType = null;
  }

  absorb(page) {
    const result = this.result;
    result.query_id = page.id || result.query_id;
    result.info_uri = page.infoUri || result.info_uri;
    if (page.columns && result.columns.length === 0) {
      result.columns = page.columns.map(c => c.name);
      result.types = page.columns.map(c => c.type);
    }
    if (page.updateType) {
      this.updateType = page.updateType;
    }
    if (page.updateCount !== undefined && page.updateCount !== null) {
      result.update_count = page.updateCount;
    }
    if (page.error) {
      result.error = `${page.error.errorName} (${page.error.errorType}): ${page.error.message}`;
    }
    for (const row of page.data || []) {
      this.pending.push(row.map((v, i) => canonical(v, result.types[i])));
    }
  }

  async start(sql) {
    try {
      this.iter = await this.trino.query(sql);
      // The iterator keeps the POST response to itself; the first next() only follows nextUri.
      const first = this.iter.iter.queryResult;
      if (first) {
        this.absorb(first);
      }
    } catch (error) {
      this.result.error = describeError(error);
      this.done = true;
    }
  }

  async pull() {
    try {
      const step = await this.iter.next();
      if (step.done) {
        this.done = true;
      }
      if (step.value) {
        this.absorb(step.value);
      }
    } catch (error) {
      this.result.error = describeError(error);
      this.done = true;
    }
  }

  async take(max) {
    while (!this.done && this.pending.length < max) {
      await this.pull();
    }
    const rows = this.pending.splice(0, max);
    // Not push(...rows): spreading 150,000 arguments overflows the call stack.
    for (const row of rows) this.result.rows.push(row);
    return rows;
  }

  async finish() {
    await this.take(Infinity);
    if (this.updateType) {
      // An update's count comes as one synthetic row; the other clients show only the count.
      Object.assign(this.result, { columns: [], types: [], rows: [] });
    }
    return this.result;
  }
}

async function main() {
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  let trino = null;
  let running = null;
  for await (const line of lines) {
    const command = JSON.parse(line);
    if (trino === null) {
      trino = connect(command);
      continue;
    }
    try {
      if (command.op === 'close') {
        break;
      } else if (command.op === 'run') {
        const run = new Running(trino);
        await run.start(command.sql);
        reply(await run.finish());
      } else if (command.op === 'start') {
        running = new Running(trino);
        await running.start(command.sql);
        reply({ type: 'started', query_id: running.result.query_id, error: running.result.error });
      } else if (command.op === 'fetch') {
        const rows = await running.take(command.max_rows);
        reply({ type: 'rows', query_id: running.result.query_id, types: running.result.types, rows, done: running.done && running.pending.length === 0, error: running.result.error });
      } else if (command.op === 'finish') {
        reply(await running.finish());
        running = null;
      } else if (command.op === 'cancel') {
        // The library's only cancel: DELETE /v1/query/{id} on the configured server, not on nextUri.
        let cancelError = null;
        try {
          await trino.cancel(running.result.query_id);
        } catch (error) {
          cancelError = describeError(error);
        }
        const result = await running.finish();
        result.cancel_error = cancelError;
        reply(result);
        running = null;
      } else {
        reply({ type: 'fatal', error: `unknown op ${command.op}` });
      }
    } catch (error) {
      reply({ type: 'fatal', error: describeError(error) });
    }
  }
  reply({ type: 'closed', error: null });
  // axios keep-alive sockets and the stdin reader would keep the process alive.
  lines.close();
  process.stdout.write('', () => process.exit(0));
}

main().catch(error => {
  reply({ type: 'fatal', error: describeError(error) });
  process.exitCode = 1;
});
