// The customer page served at `/` (api/page/, compiled into the binary):
// POST /rfqs, then the quotes live from GET /rfqs/{id}/events (Server-Sent
// Events) with a countdown to the ETA, then GET /rfqs/{id}/result. No
// framework, no build step; the Content-Security-Policy allows this origin
// only, so nothing here is inline or fetched from elsewhere.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);

  /** What the page shows, in `#status`'s `data-state`. */
  const STATES = ['idle', 'submitting', 'running', 'closing', 'closed', 'error'];

  /** Rule values that take `n`, and whether `n` is optional there. */
  const RULES_WITH_N = { 'first-n': false, quorum: true };

  /** Answers to an RFQ closed by… (`closed-by`), as a customer reads them. */
  const CLOSED_BY = {
    'all-answered': 'every provider answered',
    'first-n': 'enough answers arrived',
    quorum: 'a majority answered',
    quality: 'a quote met your price',
    deadline: 'the deadline passed',
  };

  /** A request field named by a problem document (`field`), and its input. */
  const FIELDS = [
    ['from.lat', 'from-lat'], ['from.lon', 'from-lon'], ['from', 'from-lat'],
    ['to.lat', 'to-lat'], ['to.lon', 'to-lon'], ['to', 'to-lat'],
    ['deadline-seconds', 'deadline'],
    ['completion.n', 'n'], ['completion.max-price', 'max-price'],
    ['completion.currency', 'currency'], ['completion', 'rule'],
  ];

  /** The RFQ being followed; a new submission replaces it. */
  let current = null;

  // ---- requests --------------------------------------------------------

  /**
   * Headers of every API request: the API key (it names the customer) as
   * `Authorization: Bearer …`.
   */
  function apiHeaders(extra) {
    const headers = { accept: 'application/json, application/problem+json' };
    const key = $('api-key').value.trim();
    if (key) headers.authorization = `Bearer ${key}`;
    return Object.assign(headers, extra || {});
  }

  /** An events path with the key: an EventSource cannot send headers. */
  function withKey(path) {
    const url = new URL(path, window.location.href);
    url.searchParams.set('access_token', $('api-key').value.trim());
    return url.pathname + url.search;
  }

  /**
   * The path of `link` if it is on this page's origin, else null: the page
   * talks to the server it came from (the CSP allows nothing else), so
   * links built on another public URL are followed by their path.
   */
  function localPath(link) {
    const url = new URL(link, window.location.href);
    return url.pathname + url.search;
  }

  /** A failed request, as a problem document (RFC 9457) or our own words. */
  class RequestFailed extends Error {
    constructor(problem) {
      super(problem.detail || problem.title);
      this.problem = problem;
    }
  }

  /** Fetches `path` as JSON; a status outside 2xx throws RequestFailed. */
  async function requestJson(path, options) {
    let response;
    try {
      response = await fetch(path, Object.assign({ headers: apiHeaders() }, options));
    } catch (error) {
      throw new RequestFailed({
        title: 'The server cannot be reached',
        detail: `${error.message}. Is rfq up still running?`,
      });
    }
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      const problem = body && typeof body === 'object' && body.title
        ? body
        : { title: response.statusText || 'Request failed', detail: text.slice(0, 300) };
      problem.status = problem.status || response.status;
      const retry = response.headers.get('retry-after');
      if (retry) problem['retry-after'] = retry;
      if (response.status === 404 && path === '/rfqs') {
        problem.detail = 'This server does not take RFQs (POST /rfqs answered 404): the page ' +
          'needs the producer at the same address, as `rfq up` serves them.';
      }
      throw new RequestFailed(problem);
    }
    return { body, response };
  }

  // ---- the form --------------------------------------------------------

  function number(id, label) {
    const input = $(id);
    const text = input.value.trim().replace(',', '.');
    const value = Number(text);
    if (text === '' || !Number.isFinite(value)) {
      throw new RequestFailed({
        title: 'Check the form',
        detail: text === '' ? `${label} is empty: click a demo spot or type it.` : `${label} must be a number, got “${input.value}”.`,
        localField: id,
      });
    }
    return value;
  }

  /** The body of POST /rfqs, read from the form. */
  function readForm() {
    const rule = $('rule').value;
    const completion = { rule };
    if (rule in RULES_WITH_N && !(RULES_WITH_N[rule] && $('n').value.trim() === '')) {
      completion.n = number('n', 'n');
    }
    if (rule === 'quality') {
      completion['max-price'] = $('max-price').value.trim();
      completion.currency = $('currency').value.trim().toUpperCase();
    }
    return {
      from: { lat: number('from-lat', 'Pickup latitude'), lon: number('from-lon', 'Pickup longitude') },
      to: { lat: number('to-lat', 'Destination latitude'), lon: number('to-lon', 'Destination longitude') },
      'deadline-seconds': number('deadline', 'The deadline'),
      completion,
    };
  }

  function showRuleFields() {
    const rule = $('rule').value;
    $('n-field').hidden = !(rule in RULES_WITH_N);
    $('quality-field').hidden = rule !== 'quality';
  }

  /** Values given in the page's URL: `?key=…&deadline=…&rule=…`. */
  function prefill() {
    const params = new URLSearchParams(window.location.search);
    for (const [param, id] of [['key', 'api-key'], ['deadline', 'deadline'], ['rule', 'rule'], ['n', 'n']]) {
      const value = params.get(param);
      if (value !== null) $(id).value = value;
    }
  }

  // ---- showing ---------------------------------------------------------

  function setStatus(state, text) {
    if (!STATES.includes(state)) throw new Error(`unknown state ${state}`);
    const status = $('status');
    status.dataset.state = state;
    status.textContent = text;
  }

  function clearError() {
    const box = $('error');
    box.hidden = true;
    box.replaceChildren();
    for (const input of document.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
  }

  /** Shows a problem document so that a customer can act on it. */
  function showProblem(problem) {
    const box = $('error');
    const title = document.createElement('strong');
    title.textContent = problem.status ? `${problem.title} (${problem.status})` : problem.title;
    box.replaceChildren(title);
    if (problem.detail) {
      const detail = document.createElement('p');
      detail.textContent = problem.detail;
      box.append(detail);
    }
    if (problem['retry-after']) {
      const retry = document.createElement('p');
      retry.textContent = `The server asks to try again in ${problem['retry-after']} s.`;
      box.append(retry);
    }
    box.hidden = false;
    const inputId = problem.localField || fieldInput(problem.field)
      || (problem.status === 401 ? 'api-key' : null);
    if (inputId) {
      const input = $(inputId);
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-errormessage', 'error');
      input.focus();
    }
  }

  function fieldInput(field) {
    if (typeof field !== 'string' || field === '') return null;
    const found = FIELDS.find(([name]) => field === name || field.startsWith(`${name}.`) || field.startsWith(`${name}[`));
    return found ? found[1] : null;
  }

  function cell(text, className) {
    const td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function formatPrice(answer) {
    try {
      return new Intl.NumberFormat(undefined, { style: 'currency', currency: answer.currency })
        .format(Number(answer.price));
    } catch (_) {
      return `${answer.price} ${answer.currency}`;
    }
  }

  function formatPickup(seconds) {
    if (typeof seconds !== 'number') return '';
    return seconds < 90 ? `${seconds} s` : `${Math.round(seconds / 60)} min`;
  }

  function formatTime(iso) {
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? iso : date.toLocaleTimeString();
  }

  /** Seconds from `fromIso` to `iso`, for "answered after". */
  function secondsBetween(fromIso, iso) {
    const from = Date.parse(fromIso);
    const at = Date.parse(iso);
    if (!Number.isFinite(at) || !Number.isFinite(from)) return '';
    return `${Math.max(0, (at - from) / 1000).toFixed(1)} s`;
  }

  function byPrice(a, b) {
    return Number(a.price) - Number(b.price) || (a.seq || 0) - (b.seq || 0);
  }

  function quoteRow(answer, testid, arrived) {
    const row = document.createElement('tr');
    row.dataset.testid = testid;
    row.dataset.provider = answer.provider;
    row.dataset.price = answer.price;
    row.dataset.currency = answer.currency;
    const provider = document.createElement('th');
    provider.scope = 'row';
    provider.className = 'provider';
    provider.textContent = answer.provider;
    row.append(provider, cell(formatPrice(answer), 'price'), cell(formatPickup(answer['pickup-eta-seconds'])),
      cell(arrived));
    return row;
  }

  function declineItem(answer, testid) {
    const item = document.createElement('li');
    item.dataset.testid = testid;
    item.dataset.provider = answer.provider;
    item.textContent = answer.reason ? `${answer.provider}: ${answer.reason}` : answer.provider;
    return item;
  }

  /** The answers so far, quotes cheapest first. */
  function renderLive(run) {
    const answers = [...run.answers.values()];
    const quotes = answers.filter((a) => !a.declined).sort(byPrice);
    const declines = answers.filter((a) => a.declined);
    $('live-quotes-body').replaceChildren(...quotes.map((q) =>
      quoteRow(q, 'live-quote', q.arrivedAfter === undefined ? '' : `+${q.arrivedAfter.toFixed(1)} s`)));
    $('live-quotes').hidden = quotes.length === 0;
    $('live-empty').hidden = quotes.length > 0;
    $('live-declines').replaceChildren(...declines.map((d) => declineItem(d, 'live-decline')));
    $('live-declines-title').hidden = declines.length === 0;
    if (!run.ended && !run.reconnecting) setStatus('running', runningText(run));
  }

  function runningText(run) {
    if (run.addressed === 0) return 'No provider serves this pickup point: the RFQ closes empty.';
    const quotes = [...run.answers.values()].filter((a) => !a.declined).length;
    if (run.answers.size === 0) return `Asked ${run.addressed} providers: waiting for quotes…`;
    return `Running: ${quotes} ${quotes === 1 ? 'quote' : 'quotes'} so far, ` +
      `${run.answers.size} of ${run.addressed} providers answered.`;
  }

  function tick(run) {
    if (current !== run || run.ended) return;
    const left = Math.max(0, (run.eta - Date.now()) / 1000);
    const countdown = $('countdown');
    countdown.dataset.secondsLeft = String(Math.ceil(left));
    countdown.textContent = left > 0
      ? `Closes in ${Math.ceil(left)} s at the latest (${formatTime(run.etaText)})`
      : 'Deadline reached: closing…';
    const bar = $('countdown-bar');
    bar.max = run.total;
    bar.value = Math.max(0, run.total - left);
  }

  function stopRun(run) {
    run.ended = true;
    clearInterval(run.timer);
    clearTimeout(run.poll);
    if (run.events) run.events.close();
  }

  // ---- following an RFQ ------------------------------------------------

  function answerArrived(run, answer) {
    if (current !== run || run.ended) return;
    if (!run.answers.has(answer.provider)) {
      answer.arrivedAfter = (performance.now() - run.submittedAt) / 1000;
      run.answers.set(answer.provider, answer);
      renderLive(run);
    }
  }

  /** Live: one event per answer, then `closed`. */
  function follow(run) {
    const events = new EventSource(withKey(run.eventsPath));
    run.events = events;
    events.addEventListener('open', () => {
      if (current !== run || run.ended) return;
      run.reconnecting = false;
      setStatus('running', runningText(run));
    });
    events.addEventListener('answer', (event) => answerArrived(run, JSON.parse(event.data)));
    events.addEventListener('closed', (event) => {
      // Closing ourselves: an EventSource would otherwise reconnect.
      events.close();
      const closed = JSON.parse(event.data);
      finish(run, closed.links && closed.links.result ? localPath(closed.links.result) : run.resultPath);
    });
    events.addEventListener('error', () => {
      if (current !== run || run.ended) return;
      if (events.readyState === EventSource.CLOSED) {
        // Refused (too many streams, …): ask the status resource instead.
        setStatus('running', 'Live updates unavailable: checking every second…');
        poll(run);
      } else {
        // The browser reconnects, resuming after the last answer it had.
        run.reconnecting = true;
        setStatus('running', 'Connection lost: reconnecting…');
      }
    });
  }

  /** Without a stream: GET /rfqs/{id} until it sends us to the result. */
  async function poll(run) {
    if (current !== run || run.ended) return;
    try {
      const { body } = await requestJson(run.statusPath);
      if (current !== run || run.ended) return;
      if (body.status === 'closed') {
        // fetch followed the 303: this is the result.
        showResult(run, body);
        return;
      }
      for (const answer of [...(body.quotes || []), ...(body.declines || [])]) answerArrived(run, answer);
    } catch (error) {
      if (!(error instanceof RequestFailed) || current !== run) return;
      showProblem(error.problem);
    }
    run.poll = setTimeout(() => poll(run), 1000);
  }

  async function finish(run, resultPath) {
    if (current !== run || run.ended) return;
    setStatus('closing', 'Closed: fetching the result…');
    try {
      const { body } = await requestJson(resultPath);
      if (current === run) showResult(run, body);
    } catch (error) {
      if (current !== run) return;
      stopRun(run);
      setStatus('error', 'Closed, but the result could not be read.');
      showProblem(error instanceof RequestFailed ? error.problem : { title: String(error) });
    }
  }

  /** The final list: quotes cheapest first, late answers marked. */
  function showResult(run, result) {
    stopRun(run);
    run.resultShown = true;
    const quotes = result.quotes || [];
    const declines = result.declines || [];
    const late = result.late || [];
    const unanswered = result.unanswered || [];
    // The server lists quotes cheapest first; shown in its order.
    $('final-quotes-body').replaceChildren(...quotes.map((q, i) => {
      const row = quoteRow(q, 'final-quote', secondsBetween(result['created-at'], q['responded-at']));
      if (i === 0) {
        row.classList.add('cheapest');
        const badge = document.createElement('span');
        badge.className = 'badge';
        badge.textContent = 'cheapest';
        row.cells[1].append(' ', badge);
      }
      return row;
    }));
    $('final-quotes').hidden = quotes.length === 0;
    $('final-none').hidden = quotes.length > 0;
    $('final-late').replaceChildren(...late.map((answer) => {
      const item = document.createElement('li');
      item.dataset.testid = 'final-late-answer';
      item.dataset.provider = answer.provider;
      item.className = 'late';
      const badge = document.createElement('span');
      badge.className = 'badge late';
      badge.textContent = 'late';
      const what = answer.declined
        ? `declined${answer.reason ? ` (${answer.reason})` : ''}`
        : `${formatPrice(answer)}, pickup in ${formatPickup(answer['pickup-eta-seconds'])}`;
      item.append(badge, ` ${answer.provider}: ${what}, answered at ${formatTime(answer['responded-at'])}`);
      return item;
    }));
    $('final-late-block').hidden = late.length === 0;
    $('final-declines').replaceChildren(...declines.map((d) => declineItem(d, 'final-decline')));
    $('final-declines-block').hidden = declines.length === 0;
    $('final-unanswered').replaceChildren(...unanswered.map((provider) => {
      const item = document.createElement('li');
      item.dataset.testid = 'final-unanswered-provider';
      item.textContent = provider;
      return item;
    }));
    $('final-unanswered-block').hidden = unanswered.length === 0;

    const why = CLOSED_BY[result['closed-by']] || result['closed-by'];
    const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;
    $('result-summary').textContent = `Closed at ${formatTime(result['closed-at'])}: ${why}. ` +
      `${count(quotes.length, 'quote', 'quotes')}, ${count(declines.length, 'decline', 'declines')}, ` +
      `${count(unanswered.length, 'provider', 'providers')} without an answer in time` +
      (late.length ? `, ${count(late.length, 'late answer', 'late answers')}.` : '.');
    $('result-link').href = run.resultPath;
    // The result replaces the answers so far.
    $('live-lists').hidden = true;
    $('result').hidden = false;
    $('countdown').textContent = `Closed: ${why}.`;
    $('countdown').dataset.secondsLeft = '0';
    $('countdown-bar').value = $('countdown-bar').max;
    setStatus('closed', quotes.length
      ? `Done: ${count(quotes.length, 'quote', 'quotes')}, the cheapest ${formatPrice(quotes[0])} from ${quotes[0].provider}.`
      : 'Done: no quote in time.');
  }

  /** The result again: late answers may have come in since the close. */
  async function refreshResult() {
    const run = current;
    if (!run || !run.resultShown) return;
    const button = $('refresh-result');
    button.disabled = true;
    clearError();
    try {
      const { body } = await requestJson(run.resultPath);
      if (current === run) showResult(run, body);
    } catch (error) {
      if (current === run) showProblem(error instanceof RequestFailed ? error.problem : { title: String(error) });
    } finally {
      button.disabled = false;
    }
  }

  // ---- submitting ------------------------------------------------------

  async function submit(event) {
    event.preventDefault();
    if (current) stopRun(current);
    current = null;
    clearError();
    $('result').hidden = true;
    $('running').hidden = true;
    let body;
    try {
      body = readForm();
    } catch (error) {
      setStatus('error', 'Check the form.');
      showProblem(error.problem || { title: String(error) });
      return;
    }
    const button = $('submit');
    button.disabled = true;
    setStatus('submitting', 'Asking the providers…');
    const submittedAt = performance.now();
    try {
      const { body: accepted, response } = await requestJson('/rfqs', {
        method: 'POST',
        headers: apiHeaders({ 'content-type': 'application/json' }),
        body: JSON.stringify(body),
      });
      const run = startRun(accepted, response, submittedAt, body['deadline-seconds']);
      current = run;
      follow(run);
    } catch (error) {
      setStatus('error', 'The RFQ was not accepted.');
      showProblem(error instanceof RequestFailed ? error.problem : { title: String(error) });
    } finally {
      button.disabled = false;
    }
  }

  function startRun(accepted, response, submittedAt, deadlineSeconds) {
    const links = accepted.links || {};
    const statusPath = localPath(response.headers.get('location') || links.self);
    const eta = Date.parse(accepted.eta);
    const run = {
      id: accepted.id,
      statusPath,
      eventsPath: links.events ? localPath(links.events) : `${statusPath}/events`,
      resultPath: links.result ? localPath(links.result) : `${statusPath}/result`,
      eta,
      etaText: accepted.eta,
      total: deadlineSeconds,
      addressed: accepted['providers-addressed'],
      answers: new Map(),
      submittedAt,
      ended: false,
    };
    $('rfq-id').textContent = run.id;
    $('rfq-id').href = run.statusPath;
    $('running').hidden = false;
    $('live-lists').hidden = false;
    renderLive(run);
    tick(run);
    run.timer = setInterval(() => tick(run), 250);
    return run;
  }

  // ---- wiring ----------------------------------------------------------

  function init() {
    for (const fieldset of document.querySelectorAll('fieldset[data-point]')) {
      const point = fieldset.dataset.point;
      for (const spot of fieldset.querySelectorAll('button.spot')) {
        spot.addEventListener('click', () => {
          $(`${point}-lat`).value = spot.dataset.lat;
          $(`${point}-lon`).value = spot.dataset.lon;
          for (const other of fieldset.querySelectorAll('button.spot')) {
            other.setAttribute('aria-pressed', String(other === spot));
          }
        });
        spot.setAttribute('aria-pressed', 'false');
      }
      for (const input of fieldset.querySelectorAll('input')) {
        input.addEventListener('input', () => {
          for (const spot of fieldset.querySelectorAll('button.spot')) spot.setAttribute('aria-pressed', 'false');
        });
      }
    }
    for (const input of document.querySelectorAll('#rfq-form input, #rfq-form select')) {
      input.addEventListener('input', () => input.removeAttribute('aria-invalid'));
    }
    $('rule').addEventListener('change', showRuleFields);
    $('rfq-form').addEventListener('submit', submit);
    $('refresh-result').addEventListener('click', refreshResult);
    prefill();
    showRuleFields();
    document.body.dataset.ready = 'true';
  }

  init();
}());
