/** Routes of the dashboard (served at /app/): the sign-in page, then the pages inside the shell. */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { lazy, Suspense, useEffect } from "react";
import { Redirect, Route, Router, Switch, useLocation } from "wouter";
import { setSignedOutHandler } from "./api/client";
import { sessionQuery } from "./api/queries";
import { ErrorBox } from "./components/ErrorBox";
import { Layout } from "./components/Layout";
import { ContactPage } from "./pages/ContactPage";
import { ContactsPage } from "./pages/ContactsPage";
import { DeliveriesPage } from "./pages/DeliveriesPage";
import { DeliveryPage } from "./pages/DeliveryPage";
import { EmailPage } from "./pages/EmailPage";
import { EmailsPage } from "./pages/EmailsPage";

import { ExecutionsPage } from "./pages/ExecutionsPage";
import { SegmentsPage } from "./pages/SegmentsPage";
import { SignInPage } from "./pages/SignInPage";

import { WorkflowsPage } from "./pages/WorkflowsPage";
import { RotatedKeysHost } from "./settings/rotatedKeys";

// The pages that draw graphs (@xyflow/react, dagre) load as a chunk of their own, when first opened.
const WorkflowEditorPage = lazy(() =>
  import("./pages/WorkflowEditorPage").then((m) => ({ default: m.WorkflowEditorPage })),
);
const ExecutionPage = lazy(() => import("./pages/ExecutionPage").then((m) => ({ default: m.ExecutionPage })));
// The segment builder and a segment's page (the worker's condition schema, zod) load when first opened.
const SegmentPage = lazy(() => import("./pages/SegmentPage").then((m) => ({ default: m.SegmentPage })));
const SegmentNewPage = lazy(() =>
  import("./pages/SegmentEditPage").then((m) => ({ default: m.SegmentNewPage })),
);
const SegmentEditPage = lazy(() =>
  import("./pages/SegmentEditPage").then((m) => ({ default: m.SegmentEditPage })),
);
// Templates and campaigns: lists, the template editor and the campaign composer with their live previews.
const TemplatesPage = lazy(() => import("./pages/TemplatesPage").then((m) => ({ default: m.TemplatesPage })));
const TemplateNewPage = lazy(() =>
  import("./pages/TemplateEditPage").then((m) => ({ default: m.TemplateNewPage })),
);
const TemplateEditPage = lazy(() =>
  import("./pages/TemplateEditPage").then((m) => ({ default: m.TemplateEditPage })),
);
const CampaignsPage = lazy(() => import("./pages/CampaignsPage").then((m) => ({ default: m.CampaignsPage })));
const CampaignNewPage = lazy(() =>
  import("./pages/CampaignPage").then((m) => ({ default: m.CampaignNewPage })),
);
const CampaignPage = lazy(() => import("./pages/CampaignPage").then((m) => ({ default: m.CampaignPage })));
// Analytics draws its charts with uPlot: a chunk of its own, as is Settings.
const AnalyticsPage = lazy(() => import("./pages/AnalyticsPage").then((m) => ({ default: m.AnalyticsPage })));
const SettingsPage = lazy(() => import("./pages/SettingsPage").then((m) => ({ default: m.SettingsPage })));

function SignedIn() {
  const session = useQuery(sessionQuery);
  const [, navigate] = useLocation();
  const queryClient = useQueryClient();
  useEffect(() => {
    setSignedOutHandler(() => {
      queryClient.clear();
      navigate("/sign-in");
    });
  }, [navigate, queryClient]);
  if (session.isPending) return <p aria-busy="true">Loading…</p>;
  if (session.isError) {
    if ((session.error as { status?: number }).status === 401) return <Redirect to="/sign-in" />;
    return <ErrorBox error={session.error} />;
  }
  return (
    <Layout session={session.data}>
      <Suspense fallback={<p aria-busy="true">Loading…</p>}>
        <Switch>
          <Route path="/">
            <Redirect to="/workflows" />
          </Route>
          <Route path="/workflows" component={WorkflowsPage} />
          <Route path="/workflows/:id" component={WorkflowEditorPage} />
          <Route path="/workflows/:id/executions" component={ExecutionsPage} />
          <Route path="/workflows/:id/executions/:eid" component={ExecutionPage} />
          <Route path="/segments" component={SegmentsPage} />
          <Route path="/segments/new" component={SegmentNewPage} />
          <Route path="/segments/:id" component={SegmentPage} />
          <Route path="/segments/:id/edit" component={SegmentEditPage} />
          <Route path="/deliveries" component={DeliveriesPage} />
          <Route path="/deliveries/:id" component={DeliveryPage} />
          <Route path="/contacts" component={ContactsPage} />
          <Route path="/contacts/:id" component={ContactPage} />
          <Route path="/emails" component={EmailsPage} />
          <Route path="/emails/:id" component={EmailPage} />
          <Route path="/templates" component={TemplatesPage} />
          <Route path="/templates/new" component={TemplateNewPage} />
          <Route path="/templates/:id" component={TemplateEditPage} />
          <Route path="/campaigns" component={CampaignsPage} />
          <Route path="/campaigns/new" component={CampaignNewPage} />
          <Route path="/campaigns/:id" component={CampaignPage} />
          <Route path="/analytics" component={AnalyticsPage} />
          <Route path="/settings" component={SettingsPage} />
          <Route>
            <h1>Not found</h1>
            <p>
              There is no page here. <a href="/app/workflows">Go to the workflows</a>.
            </p>
          </Route>
        </Switch>
      </Suspense>
    </Layout>
  );
}

export function App() {
  return (
    <Router base="/app">
      <Switch>
        <Route path="/sign-in" component={SignInPage} />
        <Route>
          <SignedIn />
        </Route>
      </Switch>
      <RotatedKeysHost />
    </Router>
  );
}
