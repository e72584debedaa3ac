// The shop's /api/v1, signed in with the launch data (Authorization: tma <initData>).
// A refused request throws an ApiError carrying the problem+json body, so a screen can say
// exactly what was wrong (a field, a changed price, a short balance...).

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.code = problem.code || (problem.type || "").split(":").pop();
  }
}

export class Api {
  constructor(initData) {
    this.initData = initData;
  }

  async request(method, path, body) {
    const headers = { Accept: "application/json" };
    if (this.initData) headers.Authorization = `tma ${this.initData}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(`/api/v1${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, { code: "offline", detail: "offline" });
    }
    if (response.status === 204) return null;
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  categories() { return this.request("GET", "/categories"); }

  products(filters) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(filters)) {
      if (value !== null && value !== undefined && value !== "") query.set(key, String(value));
    }
    return this.request("GET", `/products?${query}`);
  }

  shop() { return this.request("GET", "/shop"); }
  product(id) { return this.request("GET", `/products/${id}`); }
  me() { return this.request("GET", "/me"); }
  cart() { return this.request("GET", "/cart"); }
  setQuantity(variantId, quantity) {
    return this.request("PUT", `/cart/items/${variantId}`, { quantity });
  }
  removeLine(variantId) { return this.request("DELETE", `/cart/items/${variantId}`); }
  checkout() { return this.request("GET", "/checkout"); }
  place(details) { return this.request("POST", "/checkout", details); }
  orders(offset = 0) { return this.request("GET", `/orders?offset=${offset}`); }
  order(id) { return this.request("GET", `/orders/${id}`); }
  pay(orderId, method, useBalance) {
    return this.request("POST", `/orders/${orderId}/payment`, { method, use_balance: useBalance });
  }
  askRefund(numbers, reason) {
    return this.request("POST", "/refunds", { order_numbers: numbers, reason });
  }
}

/** A resized copy of a catalog image (the server keeps a few widths). */
export function thumbnail(url, width) {
  return url ? `${url}?w=${width}` : null;
}
