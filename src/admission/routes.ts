// Kubernetes admission webhooks. The API server calls them over HTTPS with a bearer token that
// has the admission:review scope (put it in the webhook's kubeconfig). Both answer 200 with an
// AdmissionReview whatever happens: a problem while deciding is `allowed: false` with the reason,
// which the API server enforces even with failurePolicy: Ignore.

import { route, type Route } from '../core/component.js';
import type { AdmissionService } from './service.js';

/** AdmissionReviews carry the object and the old one; etcd's object limit is 1.5 MiB. */
const REVIEW_BODY_LIMIT = 8 * 1024 * 1024;

export function admissionRoutes(admission: AdmissionService): Route<never, never, never>[] {
  return (['validate', 'mutate'] as const).map((mode) =>
    route({
      method: 'POST',
      url: `/v1/admission/kubernetes/${mode}`,
      scope: 'admission:review',
      bodyLimit: REVIEW_BODY_LIMIT,
      handler: async (req) => admission.kubernetes(req.body, mode, req.principal?.actor ?? 'anonymous'),
    }),
  );
}
