// Escadre Shop front end: every number on the page comes from /api/* through the proxy.
"use strict";

const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  const response = await fetch(path, { headers: { "Content-Type": "application/json" }, ...options });
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON (e.g. a 502 page) */ }
  if (!response.ok) {
    throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
  }
  return body;
}

function setTier(name, ok, text) {
  $(`tier-${name}`).className = "dot " + (ok ? "ok" : "bad");
  if (text !== undefined) $(`${name}-info`).textContent = text;
}

async function refreshHealth() {
  try {
    const info = await api("/api/info");
    setTier("api", true, `(v${info.version} on ${info.hostname})`);
  } catch (err) {
    setTier("api", false, `(${err.message})`);
  }
  // /api/health answers 503 with the same body when a check fails: read it either way.
  let checks = {};
  try {
    const response = await fetch("/api/health");
    checks = (await response.json()).checks || {};
  } catch (_) { /* proxy or api down: both unknown */ }
  setTier("redis", checks.redis === "ok", `(${checks.redis || "unknown"})`);
  setTier("postgres", checks.postgres === "ok", `(${checks.postgres || "unknown"})`);
}

async function countVisit() {
  try {
    const data = await api("/api/visits");
    $("visits").textContent = data.visits;
  } catch (err) {
    $("visits").textContent = "–";
  }
}

function row(order) {
  const tr = document.createElement("tr");
  const placed = new Date(order.created_at).toLocaleString();
  for (const value of [order.id, order.item, order.quantity, placed]) {
    const td = document.createElement("td");
    td.textContent = value;  // textContent, never innerHTML: item names are user input
    tr.appendChild(td);
  }
  return tr;
}

async function refreshOrders() {
  const tbody = $("orders");
  try {
    const data = await api("/api/orders?limit=10");
    tbody.replaceChildren(...data.orders.map(row));
    if (!data.orders.length) {
      tbody.innerHTML = '<tr><td colspan="4" class="muted">no orders yet: place one above</td></tr>';
    }
    $("orders-total").textContent = `(${data.total} in total)`;
  } catch (err) {
    tbody.innerHTML = "";
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = 4;
    td.className = "muted";
    td.textContent = `cannot load orders: ${err.message}`;
    tr.appendChild(td);
    tbody.appendChild(tr);
  }
}

$("order-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const status = $("order-status");
  status.textContent = "placing…";
  try {
    const order = await api("/api/orders", {
      method: "POST",
      body: JSON.stringify({ item: $("item").value, quantity: Number($("quantity").value) }),
    });
    status.textContent = `order #${order.id} placed`;
    $("item").value = "";
    await refreshOrders();
  } catch (err) {
    status.textContent = `failed: ${err.message}`;
  }
});

$("visit-again").addEventListener("click", countVisit);

async function tick() {
  await Promise.all([refreshHealth(), refreshOrders()]);
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
}

countVisit();
tick();
setInterval(tick, 5000);
