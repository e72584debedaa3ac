// Starts Swagger UI on /openapi.json. A file of its own, not an inline script: the page CSP
// allows scripts from this origin only.
window.addEventListener("load", () => {
  window.SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: false,
    defaultModelsExpandDepth: 0,
  });
});
