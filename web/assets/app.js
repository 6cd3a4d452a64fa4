// Strata console: one page, routed by the URL's hash, reading the manager's REST API; live
// updates come by server-sent events. Plain ES modules, no build step: this entry names the
// pages and starts the router (js/router.js); js/html.js writes all markup.
import { start } from './js/router.js';
import * as overview from './js/pages/overview.js';
import * as map from './js/pages/map.js';
import * as service from './js/pages/service.js';
import * as resource from './js/pages/resource.js';
import * as events from './js/pages/events.js';
import * as compare from './js/pages/compare.js';
import * as explore from './js/pages/explore.js';
import * as reports from './js/pages/reports.js';
import * as files from './js/pages/files.js';
import * as admin from './js/pages/admin.js';

// the stream is opened once someone is logged in
start({ overview, map, service, resource, events, compare, explore, reports, files, admin },
  () => new EventSource('/api/v1/stream'));
