/// The operator dashboard at `/`: static HTML and JS, no build step, no CDN. The token stays in the browser
/// (localStorage). `/?token=qk_…` or `/#token=qk_…` stores the token and then drops it from the address bar.
/// A file uploaded from the page is previewed (`GET /api/uploads/:id/preview`): detected format, dialect and header
/// row, the suggested mapping and the first rows; `#upload=<id>` (or `?upload=`) opens that preview directly.
/// A job of the recent-jobs list opens its job view (`#job=<id>` or `?job=` opens it directly): the summary and the
/// profile in use, the catalog diff page by page with held rows highlighted and approve/reject buttons
/// (`POST …/review`), the reject-file downloads and the commit button (`POST …/commit`). Everything inserted into
/// the page goes through `esc`.
enum DashboardPage {
    static let html = """
        <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Quarry</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <style>
        body{font:14px/1.4 system-ui,sans-serif;margin:1.5em 2em;color:#222;background:#fafafa}
        h1{margin:0 0 .5em}h3{margin:.2em 0 .5em;font-size:15px}
        table{border-collapse:collapse}td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
        .cards{display:flex;flex-wrap:wrap;gap:1em;margin-bottom:1.5em}
        .card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:200px;flex:1 1 220px;max-width:360px}
        .kv{width:100%}.kv td:first-child{color:#666}.kv td:last-child{font-variant-numeric:tabular-nums;font-weight:600;word-break:break-word}
        .bar{width:160px;height:10px;background:#eee}.bar>div{height:10px;background:#3a7}
        .status{display:inline-block;padding:1px 8px;border-radius:10px;background:#eee;font-weight:600}
        .s-healthy,.s-completed{background:#d4f0dc;color:#185c2c}.s-degraded,.s-queued,.s-processing{background:#fff0c2;color:#6b5200}
        .s-critical,.s-unhealthy,.s-dead_lettered,.s-failed{background:#fbd5d5;color:#8a1c1c}
        #jobs-table{background:#fff;border:1px solid #ddd;width:100%;max-width:1200px}
        code{font-size:12px}#msg{color:#666}
        #preview{margin-bottom:1.5em}#preview-rows{background:#fff;border:1px solid #ddd;font-size:13px}#preview-rows th{background:#f0f0f0}
        #preview-rows .extra{background:#fff4e0}.rownum{color:#888;font-variant-numeric:tabular-nums}
        .preview-meta{display:flex;flex-wrap:wrap;gap:1em;margin-bottom:.8em}
        #job-view{margin-bottom:1.5em}#job-diff{background:#fff;border:1px solid #ddd;font-size:13px}#job-diff th{background:#f0f0f0}
        #job-diff tr.held{background:#fff0c2}#job-diff tr.held td:first-child{border-left:4px solid #d9a400}
        .d-approved{color:#185c2c;font-weight:600}.d-rejected{color:#8a1c1c;font-weight:600}.actions{margin:.6em 0}
                </style></head>
        <body><h1>Quarry</h1>
        <p><input id="token" type="password" size="50" placeholder="API token (qk_…)" aria-label="API token"> <button onclick="save()">Use token</button> <span id="msg"></span></p>
        <div class="cards">
        <div class="card"><h3>Queue</h3><div id="queue">–</div></div>
        <div class="card"><h3>Throughput</h3><div id="perf">–</div></div>
        <div class="card"><h3>Health <span id="health-status" class="status">–</span></h3><div id="health">–</div></div>
        <div class="card"><h3>DLQ</h3><div id="dlq">–</div></div>
        </div>
        <h3>Upload a file</h3>
        <p><input id="upload-file" type="file" aria-label="file to upload"> <button onclick="uploadFile()">Upload and preview</button> <span id="upload-msg"></span></p>
        <div id="preview"></div>
        <div id="job-view"></div>
        <h3>Recent jobs</h3><table id="jobs-table"><thead><tr><th>job</th><th>kind</th><th>status</th><th>progress</th><th>step</th><th>error</th></tr></thead><tbody id="jobs"></tbody></table>
        <script>
        const $ = id => document.getElementById(id);
        const esc = s => String(s ?? '').replace(/[&<>"']/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
        // A token in the URL (?token= or #token=) is stored, then removed from the address bar and history.
        (function(){
          const q = new URLSearchParams(location.search).get('token');
          const h = new URLSearchParams(location.hash.slice(1)).get('token');
          const t = (q || h || '').trim();
          const param = k => new URLSearchParams(location.search).get(k) || new URLSearchParams(location.hash.slice(1)).get(k);
          const u = param('upload'), jb = param('job');
          const keep = u ? '#upload=' + encodeURIComponent(u) : jb ? '#job=' + encodeURIComponent(jb) : '';
          if (t) { localStorage.setItem('quarryToken', t); history.replaceState(null, '', location.pathname + keep); }
        })();
        let token = localStorage.getItem('quarryToken') || '';
        $('token').value = token;
        const streams = {};
        function save(){ token = $('token').value.trim(); localStorage.setItem('quarryToken', token); refresh(); }
        async function get(path){
          const r = await fetch(path, {headers:{Authorization:'Bearer '+token}});
          const j = await r.json(); if(!j.success) throw new Error(j.error.code+': '+j.error.message); return j.data;
        }
        function fmt(v){
          if (v === null || v === undefined) return '–';
          if (Array.isArray(v)) return v.length ? v.map(x => typeof x === 'object' ? JSON.stringify(x) : x).join(', ') : 'none';
          if (typeof v === 'object') return Object.entries(v).map(([k, x]) => k + ': ' + fmt(x)).join(', ');
          if (typeof v === 'number') return v.toLocaleString('en-US', {maximumFractionDigits: 2});
          return String(v);
        }
        function show(id, o, skip){
          const rows = Object.entries(o || {}).filter(([k]) => !(skip || []).includes(k))
            .map(([k, v]) => `<tr><td>${esc(k.replace(/_/g, ' '))}</td><td data-key="${esc(k)}">${esc(fmt(v))}</td></tr>`);
          $(id).innerHTML = `<table class="kv">${rows.join('')}</table>`;
        }
        function row(job){
          const p = (job.progress||{}).percent_complete||0;
          const err = job.error ? job.error.code : '';
          return `<td><a href="#job=${esc(job.job_id)}" onclick="openJob(this.dataset.id);return false" data-id="${esc(job.job_id)}"><code>${esc(job.job_id)}</code></a></td>`
            + `<td>${esc(job.kind)}</td><td><span class="status s-${esc(job.status)}">${esc(job.status)}</span></td>`
            + `<td><div class="bar" title="${p}%"><div style="width:${Number(p)||0}%"></div></div></td><td>${esc((job.progress||{}).current_step||'')}</td><td>${esc(err)}</td>`;
        }
        function watch(job){
          if (streams[job.job_id] || ['completed','failed','cancelled','dead_lettered'].includes(job.status)) return;
          // Each stream holds one of the browser's ~6 connections to this host: keep some for the polling fetches.
          if (Object.keys(streams).length >= 3) return;
          const es = new EventSource(`/api/extraction/jobs/${job.job_id}/events?access_token=${encodeURIComponent(token)}`);
          streams[job.job_id] = es;
          const update = e => { const j = JSON.parse(e.data); const tr = document.getElementById('job-'+j.job_id); if (tr) tr.innerHTML = row(j);
            if (['completed','failed','cancelled','dead_lettered'].includes(j.status)) { es.close(); delete streams[j.job_id]; } };
          es.addEventListener('progress', update); es.addEventListener('status', update);
          es.onerror = () => { es.close(); delete streams[job.job_id]; };
        }
        async function refresh(){
          if (!token) { $('msg').textContent = 'enter a token to load data'; return; }
          try {
            const recent = await get('/api/extraction/monitor?view=recent-jobs&limit=20');
            $('jobs').innerHTML = recent.jobs.length ? recent.jobs.map(j => `<tr id="job-${esc(j.job_id)}">${row(j)}</tr>`).join('')
              : '<tr><td colspan="6">no jobs yet</td></tr>';
            recent.jobs.forEach(watch);
            try {
              const d = await get('/api/extraction/monitor?view=dashboard');
              show('queue', d.queue); show('perf', d.performance); show('health', d.health, ['status']); show('dlq', d.dlq);
              const hs = (d.health || {}).status || 'unknown';
              $('health-status').textContent = hs; $('health-status').className = 'status s-' + hs;
            } catch(e){ $('queue').textContent = 'fleet views need an admin token'; }
            $('msg').textContent = 'updated ' + new Date().toLocaleTimeString();
          } catch(e) { $('msg').textContent = e.message; }
        }
        async function uploadFile(){
          const f = $('upload-file').files[0];
          if (!f) { $('upload-msg').textContent = 'choose a file first'; return; }
          $('upload-msg').textContent = 'uploading ' + f.name + '…';
          try {
            const r = await fetch('/api/uploads?filename=' + encodeURIComponent(f.name), {method:'POST', headers:{Authorization:'Bearer '+token}, body:f});
            const j = await r.json(); if (!j.success) throw new Error(j.error.code + ': ' + j.error.message);
            history.replaceState(null, '', location.pathname + '#upload=' + j.data.upload_id);
            $('upload-msg').textContent = 'uploaded ' + f.name;
            await showPreview(j.data.upload_id);
          } catch(e) { $('upload-msg').textContent = e.message; }
        }
        const visible = d => ({'\\t':'tab', ' ':'space'})[d] ?? d;
        async function showPreview(id){
          let p;
          try { p = await get('/api/uploads/' + encodeURIComponent(id) + '/preview?rows=20'); }
          catch(e) { $('preview').innerHTML = `<p id="preview-error">${esc(e.message)}</p>`; return; }
          const d = p.dialect;
          const detected = {file: p.file_name, format: p.format, encoding: p.encoding, sheet: p.sheet, sheets: p.sheets,
            delimiter: d ? visible(d.delimiter) : undefined, quote: d ? (d.quote ?? 'none') : undefined, escape: d ? d.escape : undefined,
            'header row': p.header_row === undefined ? undefined : `${p.header_row} (confidence ${p.header_row_confidence})`};
          const kv = Object.entries(detected).filter(([, v]) => v !== undefined && v !== null)
            .map(([k, v]) => `<tr><td>${esc(k)}</td><td data-key="${esc(k)}">${esc(fmt(v))}</td></tr>`).join('');
          const mapping = Object.entries(p.suggested_mapping || {}).sort((a, b) => a[1].column - b[1].column)
            .map(([f, m]) => `<tr><td>${esc(f)}</td><td>${esc(m.header)} <span class="rownum">(${esc(m.confidence)})</span></td></tr>`).join('');
          const header = p.header || [];
          const width = Math.max(header.length, ...(p.rows || []).map(r => r.cells.length));
          const th = ['<th>row</th>'];
          for (let i = 0; i < width; i++) th.push(i < header.length ? `<th>${esc(header[i])}</th>` : `<th class="extra">column_${i + 1}</th>`);
          const body = (p.rows || []).map(r => `<tr><td class="rownum">${r.row}</td>` + Array.from({length: width},
            (_, i) => `<td${i >= header.length ? ' class="extra"' : ''}>${esc(r.cells[i] ?? '')}</td>`).join('') + '</tr>').join('');
          $('preview').innerHTML = `<div class="preview-meta"><div class="card"><h3>Detected</h3><table class="kv" id="preview-detected">${kv}</table></div>`
            + `<div class="card"><h3>Suggested mapping</h3><table class="kv" id="preview-mapping">${mapping || '<tr><td>no known headers</td></tr>'}</table></div></div>`
            + `<table id="preview-rows"><thead><tr>${th.join('')}</tr></thead><tbody>${body}</tbody></table>`
            + (p.truncated ? '<p class="rownum">first rows only</p>' : '');
        }
        // The job view: summary, profile, diff (paged), review, reject files, commit.
        const jobView = {id: null, change: '', cursors: [null], page: 0};
        const enc = encodeURIComponent;
        async function send(method, path, body){
          const r = await fetch(path, {method, headers:{Authorization:'Bearer '+token, 'Content-Type':'application/json'}, body: JSON.stringify(body ?? {})});
          const j = await r.json(); if(!j.success) throw new Error(j.error.code+': '+j.error.message); return j.data;
        }
        function openJob(id){
          history.replaceState(null, '', location.pathname + '#job=' + enc(id));
          Object.assign(jobView, {id, change: '', cursors: [null], page: 0});
          return renderJob();
        }
        const money = (v, cur) => v === null || v === undefined ? '–' : fmt(v) + (cur ? ' ' + cur : '');
        function diffRow(r){
          const held = r.change === 'held';
          const buttons = held && !jobView.committed ? `<button class="approve" onclick="reviewRow(this,'approve')">approve</button> <button class="reject" onclick="reviewRow(this,'reject')">reject</button>` : '';
          return `<tr class="${held ? 'held' : ''}" data-sku="${esc(r.sku)}"><td class="rownum">${esc(r.row_number ?? '')}</td><td>${esc(r.sku)}</td><td>${esc(r.name)}</td>`
            + `<td>${esc(r.change)}</td><td>${esc(money(r.old_price, r.old_currency))}</td><td>${esc(money(r.new_price, r.currency))}</td>`
            + `<td>${esc(r.price_change_pct === null || r.price_change_pct === undefined ? '' : fmt(r.price_change_pct) + ' %')}</td>`
            + `<td class="d-${esc(r.decision)}">${esc(r.decision ?? '')}</td><td>${buttons}</td></tr>`;
        }
        async function renderJob(note){
          const id = jobView.id, base = '/api/extraction/jobs/' + enc(id);
          let res;
          try { res = await get(base + '/result?limit=1'); }
          catch(e) { $('job-view').innerHTML = `<h3>Job ${esc(id)}</h3><p id="job-error">${esc(e.message)}</p>`; return; }
          const s = res.summary || {};
          const profile = s.mapping_source === 'profile' ? `profile of ${s.profile_supplier_id ?? '?'}` : (s.mapping_source ?? '–');
          const summary = {file: s.file_name, format: s.format, rows: s.rows_total, valid: s.rows_valid, invalid: s.rows_invalid,
            supplier: s.supplier_id, mapping: profile};
          let diff = null, diffError = '';
          if (res.kind !== 'document' && s.rows_total !== undefined) {
            const change = jobView.change ? '&change=' + enc(jobView.change) : '';
            const cursor = jobView.cursors[jobView.page];
            try { diff = await get(base + '/diff?limit=50' + change + (cursor ? '&cursor=' + enc(cursor) : '')); }
            catch(e) { diffError = e.message; }
          }
          const kv = o => Object.entries(o).filter(([, v]) => v !== undefined && v !== null)
            .map(([k, v]) => `<tr><td>${esc(k)}</td><td data-key="${esc(k)}">${esc(fmt(v))}</td></tr>`).join('');
          let html = `<h3>Job <code>${esc(id)}</code></h3><div class="preview-meta">`
            + `<div class="card"><h3>Summary</h3><table class="kv" id="job-summary">${kv(summary)}</table></div>`;
          if (diff) {
            const review = diff.review || {};
            const counts = Object.assign({}, diff.summary || {}); delete counts.price_change_pct; delete counts.held_share_pct;
            html += `<div class="card"><h3>Catalog diff</h3><table class="kv" id="job-diff-summary">${kv(counts)}</table></div>`
              + `<div class="card"><h3>Review</h3><table class="kv"><tr><td>state</td><td id="job-review-state">${esc(review.state ?? 'nothing held')}</td></tr>`
              + `<tr><td>committed</td><td id="job-committed">${diff.committed ? 'yes' : 'no'}</td></tr></table></div>`;
          }
          html += '</div>';
          if (diff) {
            // A committed result takes no more decisions: its buttons are disabled.
            jobView.committed = !!diff.committed;
            const off = diff.committed ? ' disabled' : '';
            const opts = ['', 'new', 'updated', 'unchanged', 'held', 'removed']
              .map(c => `<option value="${c}"${c === jobView.change ? ' selected' : ''}>${c || 'all changes'}</option>`).join('');
            html += `<div class="actions"><select id="job-change" aria-label="change" onchange="filterDiff(this.value)">${opts}</select> `
              + `<button id="job-approve-all" onclick="reviewAll('approve')"${off}>Approve all held</button> `
              + `<button id="job-reject-all" onclick="reviewAll('reject')"${off}>Reject all held</button> `
              + `<button id="job-commit" onclick="commitJob()"${off}>Commit to catalog</button> <span id="job-msg">${esc(note ?? '')}</span></div>`
              + `<table id="job-diff"><thead><tr><th>row</th><th>sku</th><th>name</th><th>change</th><th>old price</th><th>new price</th><th>change</th><th>decision</th><th></th></tr></thead>`
              + `<tbody>${(diff.rows || []).map(diffRow).join('') || '<tr><td colspan="9">no rows</td></tr>'}</tbody></table>`
              + `<p class="actions"><button id="job-prev" onclick="pageDiff(-1)"${jobView.page ? '' : ' disabled'}>previous</button> `
              + `page ${jobView.page + 1} <button id="job-next" onclick="pageDiff(1)"${diff.next_cursor ? '' : ' disabled'}>next</button></p>`;
            jobView.cursors[jobView.page + 1] = diff.next_cursor;
          } else if (diffError) {
            html += `<p id="job-diff-error">${esc(diffError)}</p>`;
          }
          if (res.kind !== 'document') {
            html += `<p class="actions">Reject file (invalid rows and rows rejected in review, as in the source): `
              + `<button id="job-rejects-csv" onclick="downloadRejects('csv')">CSV</button> <button id="job-rejects-xlsx" onclick="downloadRejects('xlsx')">XLSX</button></p>`;
          }
          $('job-view').innerHTML = html;
        }
        function filterDiff(change){ Object.assign(jobView, {change, cursors: [null], page: 0}); return renderJob(); }
        function pageDiff(step){ jobView.page = Math.max(0, jobView.page + step); return renderJob(); }
        async function review(body){
          try { const r = await send('POST', '/api/extraction/jobs/' + enc(jobView.id) + '/review', body);
            await renderJob(`review ${r.review.state}: ${r.approved} approved, ${r.rejected} rejected, ${r.undecided} undecided`); }
          catch(e) { $('job-msg').textContent = e.message; }
        }
        function reviewRow(button, decision){ return review({[decision]: [button.closest('tr').dataset.sku]}); }
        function reviewAll(decision){ return review({[decision]: 'all'}); }
        async function commitJob(){
          try { const r = await send('POST', '/api/extraction/jobs/' + enc(jobView.id) + '/commit', {});
            await renderJob(`committed: ${r.inserted} inserted, ${r.updated} updated, ${r.held_skipped ?? 0} held rows skipped`); }
          catch(e) { $('job-msg').textContent = e.message; }
        }
        async function downloadRejects(format){
          try {
            const r = await fetch('/api/extraction/jobs/' + enc(jobView.id) + '/rejects?format=' + format, {headers:{Authorization:'Bearer '+token}});
            if (!r.ok) { const j = await r.json(); throw new Error(j.error.code + ': ' + j.error.message); }
            const a = document.createElement('a');
            a.href = URL.createObjectURL(await r.blob()); a.download = `rejects-${jobView.id}.${format}`; a.click();
            setTimeout(() => URL.revokeObjectURL(a.href), 10000);
          } catch(e) { $('job-msg').textContent = e.message; }
        }
        const startJob = new URLSearchParams(location.hash.slice(1)).get('job') || new URLSearchParams(location.search).get('job');
        if (startJob && token) openJob(startJob);
        const startUpload = new URLSearchParams(location.hash.slice(1)).get('upload') || new URLSearchParams(location.search).get('upload');
        if (startUpload && token) showPreview(startUpload);
        refresh(); setInterval(refresh, 5000);
        </script></body></html>
        """
}
