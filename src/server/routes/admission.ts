// Kubernetes admission webhooks. The API server calls them over HTTPS with a bearer token that
// has the admission:review scope (put it in the webhook's kubeconfig). Both answer 200 with an
// AdmissionReview whatever happens: a problem while deciding is `allowed: false` with the reason,
// which the API server enforces even with failurePolicy: Ignore.

import type { FastifyInstance } from 'fastify';
import type { AdmissionService } from '../../admission/service.js';

/** AdmissionReviews carry the object and the old one; etcd's object limit is 1.5 MiB. */
const REVIEW_BODY_LIMIT = 8 * 1024 * 1024;

export function registerAdmissionRoutes(app: FastifyInstance, deps: { admission: AdmissionService }): void {
  for (const mode of ['validate', 'mutate'] as const)
    app.post(
      `/v1/admission/kubernetes/${mode}`,
      { config: { scope: 'admission:review' }, bodyLimit: REVIEW_BODY_LIMIT },
      async (req) => deps.admission.kubernetes(req.body, mode, req.principal?.actor ?? 'anonymous'),
    );
}
