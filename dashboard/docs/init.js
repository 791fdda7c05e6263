// The API reference at /docs: Swagger UI (swagger-ui-dist, served by the worker from its own assets, so
// the page needs nothing from another origin) over the worker's own /openapi.json.
const root = document.getElementById("swagger-ui");
window.SwaggerUIBundle({
  url: root.dataset.url,
  domNode: root,
  deepLinking: true,
  // No "try it out" requests to other servers, and no validator badge (it calls validator.swagger.io).
  validatorUrl: null,
  tryItOutEnabled: false,
});
