/// The operator dashboard at `/`: static HTML and JS, no CDN. The token stays in the browser.
enum DashboardPage {
    static let html = """
        <!doctype html><html><head><meta charset="utf-8"><title>Quarry</title>
        <style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left}
        .bar{width:160px;height:10px;background:#eee}.bar>div{height:10px;background:#3a7}.card{display:inline-block;margin:0 2em 1em 0;vertical-align:top}</style></head>
        <body><h1>Quarry</h1>
        <p><input id="token" size="60" placeholder="API token (qk_…)"> <button onclick="save()">Use token</button> <span id="msg"></span></p>
        <div class="card"><h3>Queue</h3><pre id="queue">–</pre></div>
        <div class="card"><h3>Throughput</h3><pre id="perf">–</pre></div>
        <div class="card"><h3>Health</h3><pre id="health">–</pre></div>
        <div class="card"><h3>DLQ</h3><pre id="dlq">–</pre></div>
        <h3>Recent jobs</h3><table><thead><tr><th>job</th><th>kind</th><th>status</th><th>progress</th><th>step</th></tr></thead><tbody id="jobs"></tbody></table>
        <script>
        const $ = id => document.getElementById(id);
        let token = localStorage.getItem('quarryToken') || '';
        $('token').value = token;
        const streams = {};
        function save(){ token = $('token').value.trim(); localStorage.setItem('quarryToken', token); refresh(); }
        async function get(path){
          const r = await fetch(path, {headers:{Authorization:'Bearer '+token}});
          const j = await r.json(); if(!j.success) throw new Error(j.error.code+': '+j.error.message); return j.data;
        }
        function show(id, o){ $(id).textContent = JSON.stringify(o, null, 1).replace(/[{}"]/g,''); }
        function row(job){
          const p = (job.progress||{}).percent_complete||0;
          return `<td>${job.job_id.slice(0,8)}</td><td>${job.kind}</td><td>${job.status}</td><td><div class="bar"><div style="width:${p}%"></div></div></td><td>${(job.progress||{}).current_step||''}</td>`;
        }
        function watch(job){
          if (streams[job.job_id] || ['completed','failed','cancelled','dead_lettered'].includes(job.status)) return;
          const es = new EventSource(`/api/extraction/jobs/${job.job_id}/events?access_token=${encodeURIComponent(token)}`);
          streams[job.job_id] = es;
          const update = e => { const j = JSON.parse(e.data); const tr = document.getElementById('job-'+j.job_id); if (tr) tr.innerHTML = row(j);
            if (['completed','failed','cancelled','dead_lettered'].includes(j.status)) { es.close(); delete streams[j.job_id]; } };
          es.addEventListener('progress', update); es.addEventListener('status', update);
          es.onerror = () => { es.close(); delete streams[job.job_id]; };
        }
        async function refresh(){
          if (!token) return;
          try {
            const recent = await get('/api/extraction/monitor?view=recent-jobs&limit=20');
            $('jobs').innerHTML = recent.jobs.map(j => `<tr id="job-${j.job_id}">${row(j)}</tr>`).join('');
            recent.jobs.forEach(watch);
            try { const d = await get('/api/extraction/monitor?view=dashboard'); show('queue', d.queue); show('perf', d.performance); show('health', d.health); show('dlq', d.dlq); }
            catch(e){ $('queue').textContent = 'fleet views need an admin token'; }
            $('msg').textContent = 'updated ' + new Date().toLocaleTimeString();
          } catch(e) { $('msg').textContent = e.message; }
        }
        refresh(); setInterval(refresh, 5000);
        </script></body></html>
        """
}
