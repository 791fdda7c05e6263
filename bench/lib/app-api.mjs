// The app's management API as the bench scripts use it: set-up calls that must succeed.

/** One API call with the project's secret key; throws unless it answers 2xx. */
export async function api(stack, key, method, p, body) {
  const res = await fetch(`${stack.base}${p}`, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  if (res.status >= 300) throw new Error(`${method} ${p} answered ${res.status}: ${text.slice(0, 300)}`);
  return json;
}

/** An enabled workflow on `event`: TRIGGER → steps in order, each reached on the branch given. */
export async function workflow(stack, project, event, steps) {
  const key = project.secretKey;
  const wf = await api(stack, key, "POST", "/workflows", {
    name: `bench ${event}`,
    eventName: event,
    enabled: true,
  });
  let from = wf.steps[0].id;
  for (const { branch, ...s } of steps) {
    const step = await api(stack, key, "POST", `/workflows/${wf.id}/steps`, s);
    await api(stack, key, "POST", `/workflows/${wf.id}/transitions`, {
      fromStepId: from,
      toStepId: step.id,
      branch,
    });
    from = step.id;
  }
  return wf.id;
}
