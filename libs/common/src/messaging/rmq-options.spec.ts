import { ServerRMQ } from '@nestjs/microservices';
import { PlatformServerRMQ } from './rmq-options';

type Routing = { getRouteFromPattern(pattern: string): unknown };

describe('PlatformServerRMQ routing', () => {
  const options = { urls: ['amqp://127.0.0.1:1'], queue: 'unused' };
  const ours = new PlatformServerRMQ(options) as unknown as Routing;
  const nest = new ServerRMQ(options) as unknown as Routing;

  it.each([
    'registry.tool.get',
    'knowledge.document.search',
    'a_b:c-d.e',
    '{"cmd":"sum","v":1}',
    '"registry.tool.get"',
    '123',
    'true',
    'null',
    'false',
    'with space',
    '',
    '[1,2]',
  ])('routes %j exactly as Nest does', (pattern) => {
    expect(ours.getRouteFromPattern(pattern)).toEqual(nest.getRouteFromPattern(pattern));
  });
});
