(function(){
var table=document.getElementById('suites'),body=table.tBodies[0];
var buttons=[].slice.call(document.querySelectorAll('.filters button'));
function shown(){return buttons.filter(function(b){return b.getAttribute('aria-pressed')==='true'}).map(function(b){return b.dataset.status})}
function apply(){var want=shown();[].forEach.call(body.rows,function(r){r.hidden=want.length>0&&want.indexOf(r.dataset.status)<0});
document.getElementById('shown').textContent=[].filter.call(body.rows,function(r){return !r.hidden}).length}
buttons.forEach(function(b){b.addEventListener('click',function(){b.setAttribute('aria-pressed',b.getAttribute('aria-pressed')==='true'?'false':'true');apply()})});
var heads=[].slice.call(table.tHead.rows[0].cells);
function sortBy(i,dir){var rows=[].slice.call(body.rows);rows.sort(function(a,b){var x=a.cells[i].dataset.v,y=b.cells[i].dataset.v;
var n=parseFloat(x)-parseFloat(y);var c=isNaN(n)?x.localeCompare(y):n;return dir==='ascending'?c:-c});
rows.forEach(function(r){body.appendChild(r)});heads.forEach(function(h,j){if(j===i)h.setAttribute('aria-sort',dir);else h.removeAttribute('aria-sort')})}
heads.forEach(function(h,i){h.addEventListener('click',function(){sortBy(i,h.getAttribute('aria-sort')==='ascending'?'descending':'ascending')})});
location.hash.replace(/^#/,'').split('&').forEach(function(kv){var p=kv.split('='),v='';try{v=decodeURIComponent(p[1]||'')}catch(e){}
if(p[0]==='status')v.split(',').forEach(function(s){buttons.forEach(function(b){if(b.dataset.status===s)b.setAttribute('aria-pressed','true')})});
if(p[0]==='sort'){var d=v.charAt(0)==='-'?'descending':'ascending',k=v.replace(/^-/,'');heads.forEach(function(h,i){if(h.dataset.key===k)sortBy(i,d)})}});
apply()})();